using Fleet.Grains.Sensors;

namespace Fleet.Grains.Pipeline;

/// <summary>
/// Preprocessing step 1: duplicate detection by sequence number over a sliding window, so that
/// readings reordered in flight are still accepted once and a device that restarts its counter
/// is not mistaken for a flood of duplicates.
/// </summary>
public static class SequenceWindow
{
    /// <returns>true when the reading is new; false when it is a duplicate.</returns>
    public static bool TryAccept(SensorState state, long seq, long timestampMs, int window)
    {
        if (state.HighestSeq < 0)
        {
            state.HighestSeq = seq;
            state.SeqMask = 1;
            return true;
        }

        if (seq > state.HighestSeq)
        {
            var shift = seq - state.HighestSeq;
            state.SeqMask = shift >= 64 ? 1UL : (state.SeqMask << (int)shift) | 1UL;
            state.HighestSeq = seq;
            return true;
        }

        var offset = state.HighestSeq - seq;
        if (offset >= window)
        {
            // Far behind the window. A device that rebooted starts again at a low seq with a new timestamp:
            // treat that as a restart of the sequence. Otherwise it is an old duplicate.
            if (timestampMs > state.NewestTimestampMs)
            {
                state.HighestSeq = seq;
                state.SeqMask = 1;
                return true;
            }

            return false;
        }

        var bit = 1UL << (int)offset;
        if ((state.SeqMask & bit) != 0)
        {
            return false;
        }

        state.SeqMask |= bit;
        return true;
    }
}
