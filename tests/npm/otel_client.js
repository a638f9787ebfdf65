// OpenTelemetry's JavaScript SDK (the npm packages @opentelemetry/sdk-trace-base and
// @opentelemetry/exporter-trace-otlp-http, installed by scripts/setup into tests/npm) exporting to
// svckitd's OTLP/HTTP receiver, driven by tests/integration/tracing_test.cpp. It records a trace
// — a server span with attributes of every kind, a client child that failed, and `extra` more
// children, so that the BatchSpanProcessor sends several batches — flushes, and prints one JSON
// line with the ids; exits non-zero on any error.
//   node otel_client.js URL [extra]
"use strict";
const api = require("@opentelemetry/api");
const { BasicTracerProvider, BatchSpanProcessor } = require("@opentelemetry/sdk-trace-base");
const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-http");
const { resourceFromAttributes } = require("@opentelemetry/resources");

async function main() {
  const [url, extra = "0"] = process.argv.slice(2);
  let failed = null;
  const exporter = new OTLPTraceExporter({ url });
  const export_ = exporter.export.bind(exporter);
  exporter.export = (spans, done) =>
    export_(spans, (result) => {
      if (result.code !== 0) failed = result.error ? String(result.error) : "export failed";
      done(result);
    });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "npm-otel", "service.version": "1.2.3" }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer("svckit-interop");
  const root = tracer.startSpan("GET /orders/{id}", { kind: api.SpanKind.SERVER });
  root.setAttribute("http.request.method", "GET");
  root.setAttribute("http.response.status_code", 200);
  root.setAttribute("ratio", 0.25);
  root.setAttribute("cached", true);
  root.setAttribute("tags", ["a", "b"]);
  root.setAttribute("note", "caf\u00e9 \u20ac");
  root.addEvent("validated", { step: 1 });
  const ctx = api.trace.setSpan(api.context.active(), root);
  const child = tracer.startSpan("SELECT orders", { kind: api.SpanKind.CLIENT }, ctx);
  child.setStatus({ code: api.SpanStatusCode.ERROR, message: "timeout after 5 s" });
  child.end();
  for (let i = 0; i < Number(extra); ++i) tracer.startSpan(`step ${i}`, {}, ctx).end();
  root.end();
  await provider.forceFlush();
  await provider.shutdown();
  if (failed) throw new Error(failed);
  console.log(
    JSON.stringify({
      trace_id: root.spanContext().traceId,
      root: root.spanContext().spanId,
      child: child.spanContext().spanId,
    }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
