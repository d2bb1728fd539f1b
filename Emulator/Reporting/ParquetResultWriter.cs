using System.Text;
using MmuSim.Core;
using MmuSim.Translation;
using Parquet;
using Parquet.Schema;

namespace MmuSim.Reporting;

/// <summary>
/// Writes results as Apache Parquet (`replay --results FILE.parquet`): the fields of the JSON Lines results
/// (<see cref="ResultWriter"/>), each a column, present where the JSON line has the key and null where it has not;
/// the fault object's keys are columns `fault_type`, `fault_stage`, ... Addresses and syndrome values are unsigned
/// 64-bit integers (the JSON's hex strings as numbers); `issue` and `complete` are set on a timeline run only, as in
/// the JSON line. Rows are buffered in preallocated columns and written a row
/// group at a time (Snappy-compressed), so a result costs stores into arrays and no allocation.
/// </summary>
public sealed class ParquetResultWriter : IOutcomeSink, IDisposable
{
    public const int RowGroupRows = 1 << 17;

    private static readonly DataField<long> Line = new("line");
    private static readonly DataField<string> Op = new("op");
    private static readonly DataField<ulong?> Va = new("va");
    private static readonly DataField<int?> El = new("el");
    private static readonly DataField<int?> Cpu = new("cpu");
    private static readonly DataField<bool?> Unpriv = new("unpriv");
    private static readonly DataField<string> At = new("at", true);
    private static readonly DataField<ulong?> Par = new("par");
    private static readonly DataField<ulong?> Pa = new("pa");
    private static readonly DataField<ulong?> Ipa = new("ipa");
    private static readonly DataField<ulong?> Value = new("value");
    private static readonly DataField<long?> Cycles = new("cycles");
    private static readonly DataField<long?> Issue = new("issue");
    private static readonly DataField<long?> Complete = new("complete");
    private static readonly DataField<string> FaultType = new("fault_type", true);
    private static readonly DataField<int?> FaultStage = new("fault_stage");
    private static readonly DataField<int?> FaultLevel = new("fault_level");
    private static readonly DataField<bool?> FaultS1Ptw = new("fault_s1ptw");
    private static readonly DataField<int?> FaultTargetEl = new("fault_target_el");
    private static readonly DataField<ulong?> FaultEsr = new("fault_esr");
    private static readonly DataField<ulong?> FaultFar = new("fault_far");
    private static readonly DataField<ulong?> FaultHpfar = new("fault_hpfar");

    /// <summary>The columns, in order.</summary>
    public static ParquetSchema Schema { get; } = new(Line, Op, Va, El, Cpu, Unpriv, At, Par, Pa, Ipa, Value, Cycles, Issue, Complete,
        FaultType, FaultStage, FaultLevel, FaultS1Ptw, FaultTargetEl, FaultEsr, FaultFar, FaultHpfar);

    // The names as strings, made once: a result stores a reference, never a new string.
    private static readonly string[] OpNames = Names(Enum.GetValues<ResultOp>().Select(o => ResultWriter.OpName(o).ToArray()));
    private static readonly string[] AtNames = Names(Enum.GetValues<AtOp>().Select(o => ResultWriter.AtName(o).ToArray()));
    private static readonly string[] FaultNames = Names(Enum.GetValues<Faults.FaultType>().Select(t => ResultWriter.FaultTypeName(t).ToArray()));

    private static string[] Names(IEnumerable<byte[]> names) => names.Select(n => Encoding.ASCII.GetString(n)).ToArray();

    private readonly Stream _stream;
    private readonly ParquetWriter _writer;
    private readonly long[] _line = new long[RowGroupRows];
    private readonly string[] _op = new string[RowGroupRows];
    private readonly ulong?[] _va = new ulong?[RowGroupRows];
    private readonly int?[] _el = new int?[RowGroupRows];
    private readonly int?[] _cpu = new int?[RowGroupRows];
    private readonly bool?[] _unpriv = new bool?[RowGroupRows];
    private readonly string?[] _at = new string?[RowGroupRows];
    private readonly ulong?[] _par = new ulong?[RowGroupRows];
    private readonly ulong?[] _pa = new ulong?[RowGroupRows];
    private readonly ulong?[] _ipa = new ulong?[RowGroupRows];
    private readonly ulong?[] _value = new ulong?[RowGroupRows];
    private readonly long?[] _cycles = new long?[RowGroupRows];
    private readonly long?[] _issue = new long?[RowGroupRows];
    private readonly long?[] _complete = new long?[RowGroupRows];
    private readonly string?[] _faultType = new string?[RowGroupRows];
    private readonly int?[] _faultStage = new int?[RowGroupRows];
    private readonly int?[] _faultLevel = new int?[RowGroupRows];
    private readonly bool?[] _faultS1Ptw = new bool?[RowGroupRows];
    private readonly int?[] _faultTargetEl = new int?[RowGroupRows];
    private readonly ulong?[] _faultEsr = new ulong?[RowGroupRows];
    private readonly ulong?[] _faultFar = new ulong?[RowGroupRows];
    private readonly ulong?[] _faultHpfar = new ulong?[RowGroupRows];
    private int _rows;

    /// <param name="stream">Where the file goes (written from its start; left open).</param>
    public ParquetResultWriter(Stream stream)
    {
        _stream = stream;
        _writer = ParquetWriter.CreateAsync(Schema, stream, new ParquetOptions { CompressionMethod = CompressionMethod.Snappy }, append: false).GetAwaiter().GetResult();
    }

    public long Count { get; private set; }

    public void OnOutcome(in AccessOutcome o)
    {
        int i = _rows;
        _line[i] = o.Line;
        _op[i] = OpNames[(int)o.Op];
        bool dump = o.Op == ResultOp.Dump;
        bool at = o.Op == ResultOp.At;
        bool fault = !dump && !at && o.IsFault;
        _va[i] = dump ? null : o.Va;
        _el[i] = dump ? null : o.El;
        _cpu[i] = !dump && o.HasCpu ? o.Cpu : null;
        _unpriv[i] = !dump && o.Unpriv ? true : null;
        _at[i] = at ? AtNames[(int)o.At] : null;
        _par[i] = at ? o.Par : null;
        _pa[i] = dump || (!at && !o.IsFault) ? o.Pa : null;
        _ipa[i] = !dump && !at && o.HasIpa ? o.Ipa : null;
        _value[i] = dump ? o.Value : null;
        _cycles[i] = !dump && !at ? o.Cycles : null;
        // Only a run on the timeline (--timing timeline) times each access; the JSON line has the keys only then.
        _issue[i] = !dump && !at && o.Timed ? o.Issue : null;
        _complete[i] = !dump && !at && o.Timed ? o.Complete : null;
        _faultType[i] = fault ? FaultNames[(int)o.Fault.Type] : null;
        _faultStage[i] = fault ? o.Fault.Stage : null;
        _faultLevel[i] = fault && o.Fault.HasLevel ? o.Fault.Level : null;
        _faultS1Ptw[i] = fault ? o.Fault.S1Ptw : null;
        _faultTargetEl[i] = fault ? o.TargetEl : null;
        _faultEsr[i] = fault ? o.Esr : null;
        _faultFar[i] = fault ? o.Far : null;
        _faultHpfar[i] = fault && o.HasHpfar ? o.Hpfar : null;
        Count++;
        if (++_rows == RowGroupRows)
        {
            WriteRowGroup();
        }
    }

    private void WriteRowGroup()
    {
        if (_rows == 0)
        {
            return;
        }
        int n = _rows;
        using (var g = _writer.CreateRowGroup())
        {
            g.WriteAsync(Line, new ReadOnlyMemory<long>(_line, 0, n)).GetAwaiter().GetResult();
            g.WriteAsync(Op, new ArraySegment<string>(_op, 0, n)).GetAwaiter().GetResult();
            Column(g, Va, _va, n);
            Column(g, El, _el, n);
            Column(g, Cpu, _cpu, n);
            Column(g, Unpriv, _unpriv, n);
            g.WriteAsync(At, new ArraySegment<string>(_at!, 0, n)).GetAwaiter().GetResult();
            Column(g, Par, _par, n);
            Column(g, Pa, _pa, n);
            Column(g, Ipa, _ipa, n);
            Column(g, Value, _value, n);
            Column(g, Cycles, _cycles, n);
            Column(g, Issue, _issue, n);
            Column(g, Complete, _complete, n);
            g.WriteAsync(FaultType, new ArraySegment<string>(_faultType!, 0, n)).GetAwaiter().GetResult();
            Column(g, FaultStage, _faultStage, n);
            Column(g, FaultLevel, _faultLevel, n);
            Column(g, FaultS1Ptw, _faultS1Ptw, n);
            Column(g, FaultTargetEl, _faultTargetEl, n);
            Column(g, FaultEsr, _faultEsr, n);
            Column(g, FaultFar, _faultFar, n);
            Column(g, FaultHpfar, _faultHpfar, n);
        }
        _rows = 0;
    }

    private static void Column<T>(ParquetRowGroupWriter g, DataField<T?> field, T?[] values, int n) where T : struct =>
        g.WriteAsync(field, new ReadOnlyMemory<T?>(values, 0, n)).GetAwaiter().GetResult();

    public void Dispose()
    {
        WriteRowGroup();
        _writer.DisposeAsync().GetAwaiter().GetResult();
        _stream.Flush();
    }
}
