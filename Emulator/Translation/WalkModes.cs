using System.Runtime.CompilerServices;

namespace MmuSim.Translation;

/// <summary>
/// What one translation may use, decided once per call from what the MMU has (walker caches), how the record keeps
/// steps (lean or detailed) and whether it is a real access or AT: the modelled caches to consult, and the host
/// speed-ups that may stand in for walks (only where they leave exactly what the walk would).
/// </summary>
internal readonly struct WalkModes
{
    /// <summary>The walker caches (walk caches, IPA cache) may be looked up and filled: a real access with caches.</summary>
    public readonly bool UseCaches;
    /// <summary>A stage-1 / stage-2 walk cache is consulted.</summary>
    public readonly bool WalkCache1;
    public readonly bool WalkCache2;
    /// <summary>The IPA cache is consulted.</summary>
    public readonly bool IpaCache;
    /// <summary>Stage-2 walks of stage-1 table addresses may come from, and go into, the stage-2 walk memo (lean record, no stage-2 walk cache).</summary>
    public readonly bool Stage2Memo;
    /// <summary>A whole stage-2 lookup for a table read may come from the memo (no IPA cache to consult either).</summary>
    public readonly bool Stage2MemoTableReads;
    /// <summary>Stage-1 walks may resume from, and feed, the path memo (reads leave only their count; no stage-1 walk cache or IPA cache; not AT).</summary>
    public readonly bool PathMemo;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public WalkModes(bool caches, bool s1WalkCache, bool s2WalkCache, bool ipaCache, bool detailed, bool readsUnrecorded, bool at)
    {
        UseCaches = caches && !at;
        WalkCache1 = UseCaches && s1WalkCache;
        WalkCache2 = UseCaches && s2WalkCache;
        IpaCache = UseCaches && ipaCache;
        Stage2Memo = !WalkCache2 && !detailed;
        Stage2MemoTableReads = Stage2Memo && !IpaCache;
        PathMemo = readsUnrecorded && !WalkCache1 && !IpaCache && !at;
    }
}
