// gtest's ASSERT_* macros `return`, which a coroutine may not: these `co_return` instead.
#pragma once

#include <gtest/gtest.h>

#define SVCKIT_CO_ASSERT_TRUE(cond)              \
  if (!(cond)) {                                 \
    ADD_FAILURE() << "assertion failed: " #cond; \
    co_return;                                   \
  }
#define SVCKIT_CO_ASSERT_EQ(a, b) \
  if (!((a) == (b))) {            \
    EXPECT_EQ(a, b);              \
    co_return;                    \
  }
