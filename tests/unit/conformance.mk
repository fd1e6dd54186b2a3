# The differential test links libcrypto (Debian's libssl-dev, 3.0) next to core/, and its parts
# in tests/unit/conformance/ (core's archive again after them, since they call it).
CONFORMANCE_PARTS := $(wildcard tests/unit/conformance/*.c)
$(BUILD)/tests/conformance: $(CONFORMANCE_PARTS) tests/unit/conformance/conformance.h
$(BUILD)/tests/conformance: TEST_LIBS += -Itests/unit $(CONFORMANCE_PARTS) $(BUILD)/libsockpolicy_core.a -lcrypto
