using Fleet.Grains.Readings;

namespace Fleet.Gateways.Mqtt;

/// <summary>A parsed payload: readings, or why it was refused.</summary>
public readonly record struct ParseResult(Reading[]? Readings, RejectReason Reason, string? Detail)
{
    public bool Ok => Readings is not null;

    public static ParseResult Success(Reading[] readings) => new(readings, default, null);

    public static ParseResult Fail(RejectReason reason, string detail) => new(null, reason, detail);
}
