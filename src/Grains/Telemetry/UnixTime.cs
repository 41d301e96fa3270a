namespace Fleet.Grains.Telemetry;

public static class UnixTime
{
    public static long NowMicros() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;
}
