#include <stddef.h>

/// libFuzzer's driver (linked in by -sanitize=fuzzer): runs the fuzzing loop with `callback`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const unsigned char *data, size_t size));
