// The walker and the replay loop keep large structs on the stack (walk state, results, outcomes); C# already
// requires every local to be assigned before use, so zeroing their frames on every call is pure cost. The few
// stackalloc buffers in the readers and writers are filled before they are read.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
