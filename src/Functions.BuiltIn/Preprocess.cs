using Fleet.Functions.Sensors;

namespace Fleet.Functions.BuiltIn;

/// <summary>
/// Built-in step 1, preprocessing: drops duplicates (by sequence number over a sliding 64-wide window,
/// so readings reordered in flight are accepted once, and a device that restarts its counter is not
/// taken for a flood of duplicates) and readings later than <c>ALLOWED_LATENESS_MS</c> behind the newest.
/// Returns null for a dropped reading.
/// <para>A device restarts its counter when it sends a seq far behind the window with a newer timestamp, or seq 0
/// again with a newer timestamp (it rebooted early, before seq reached the window's width). "Newest" never runs
/// ahead of the gateway's clock (<see cref="ReceivedAtMs"/>): one reading stamped in the future (a device clock that
/// jumped) must not make every later reading late. (A device whose clock runs ahead is then judged late against the
/// gateway's clock, which only makes it more tolerant.)</para>
/// </summary>
public sealed class Preprocess : IFunctionHandler<SensorEvent, SensorEvent?>, IStatefulFunction
{
    private static readonly Task<SensorEvent?> Dropped = Task.FromResult<SensorEvent?>(null);
    private SettingsCache _settings;

    public long HighestSeq { get; private set; } = -1;
    public ulong SeqMask { get; private set; }
    public long NewestTimestampMs { get; private set; } = long.MinValue;
    public long Duplicates { get; private set; }
    public long Late { get; private set; }

    /// <summary>When the gateway received the event being handled, unix ms (0: unknown). Set by the host before each event.</summary>
    public long ReceivedAtMs { get; set; }

    public Task<SensorEvent?> HandleAsync(SensorEvent evt, IFunctionContext context)
    {
        var settings = _settings.Get(context.Environment);
        if (evt.Seq is { } seq && !TryAccept(seq, evt.Timestamp, settings.Window))
        {
            Duplicates++;
            return Dropped;
        }

        if (NewestTimestampMs != long.MinValue && evt.Timestamp < NewestTimestampMs - settings.LatenessMs)
        {
            Late++;
            return Dropped;
        }

        var newest = ReceivedAtMs > 0 ? Math.Min(evt.Timestamp, ReceivedAtMs) : evt.Timestamp;
        if (newest > NewestTimestampMs) NewestTimestampMs = newest;
        return Passed.Of(evt);
    }

    private bool TryAccept(long seq, long timestampMs, int window)
    {
        if (HighestSeq < 0)
        {
            HighestSeq = seq;
            SeqMask = 1;
            return true;
        }

        if (seq > HighestSeq)
        {
            var shift = seq - HighestSeq;
            SeqMask = shift >= 64 ? 1UL : (SeqMask << (int)shift) | 1UL;
            HighestSeq = seq;
            return true;
        }

        var offset = HighestSeq - seq;
        if (offset >= window)
        {
            // Far behind the window. A device that rebooted starts again at a low seq with a new timestamp:
            // treat that as a restart of the sequence. Otherwise it is an old duplicate.
            if (timestampMs > NewestTimestampMs)
            {
                HighestSeq = seq;
                SeqMask = 1;
                return true;
            }

            return false;
        }

        var bit = 1UL << (int)offset;
        if ((SeqMask & bit) != 0)
        {
            // Seen. A resend carries its first timestamp (no newer than the newest); seq 0 again with a newer timestamp
            // is a device that rebooted before its counter left the window.
            if (seq == 0 && timestampMs > NewestTimestampMs)
            {
                HighestSeq = 0;
                SeqMask = 1;
                return true;
            }

            return false;
        }

        SeqMask |= bit;
        return true;
    }

    public byte[]? SaveState()
    {
        using var stream = new MemoryStream(48);
        using (var w = new BinaryWriter(stream))
        {
            w.Write((byte)1);
            w.Write(HighestSeq);
            w.Write(SeqMask);
            w.Write(NewestTimestampMs);
            w.Write(Duplicates);
            w.Write(Late);
        }

        return stream.ToArray();
    }

    public void RestoreState(byte[] state)
    {
        using var r = new BinaryReader(new MemoryStream(state));
        if (r.ReadByte() != 1) return; // unknown layout: start afresh
        HighestSeq = r.ReadInt64();
        SeqMask = r.ReadUInt64();
        NewestTimestampMs = r.ReadInt64();
        Duplicates = r.ReadInt64();
        Late = r.ReadInt64();
    }
}
