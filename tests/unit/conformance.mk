# The differential test links libcrypto (Debian's libssl-dev, 3.0) next to core/.
$(BUILD)/tests/conformance: TEST_LIBS += -lcrypto
