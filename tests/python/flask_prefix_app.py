"""A Flask app behind svckitd's gateway: werkzeug's ProxyFix reads X-Forwarded-Prefix, so the
redirects Flask builds (here the trailing-slash redirect of /items to /items/) keep the prefix the
gateway removed. Run by tests/integration/gateway_prefix_test.cpp with Debian's /usr/bin/python3:
    python3 flask_prefix_app.py PORT_FILE
Listens on a free port of 127.0.0.1 and writes it to PORT_FILE once it accepts connections.
"""
import sys

from flask import Flask, request, url_for
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import make_server

app = Flask(__name__)
# One proxy in front (svckitd's gateway): trust one X-Forwarded-For/-Proto/-Host/-Prefix hop.
app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)


@app.route("/items/")
def items():
    return {"self": url_for("items"), "script_root": request.script_root}


@app.route("/health")
def health():
    return "ok"


def main():
    server = make_server("127.0.0.1", 0, app, threaded=True)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_port))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
