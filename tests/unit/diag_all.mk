# tests/unit/diag_*.c link the diagnosis library (diag/) directly (no preload), then policy's
# and core's archives again, since it comes after them on the link line.
SP_DIAG_TEST_OBJ := $(BUILD)/libsockpolicy_diag.a
SP_DIAG_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/diag_*.c))
$(SP_DIAG_TESTS): $(SP_DIAG_TEST_OBJ)
$(SP_DIAG_TESTS): TEST_LIBS += $(SP_DIAG_TEST_OBJ) $(BUILD)/libsockpolicy_policy.a $(BUILD)/libsockpolicy_core.a
