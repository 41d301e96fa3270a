using Fleet.Grains.Sensors;

namespace Fleet.Grains.Outbound;

/// <summary>An outbound item that could not be delivered, with why; kept until redriven.</summary>
[GenerateSerializer, Immutable]
public sealed record DeadLetter(
    [property: Id(0)] Guid Id,
    [property: Id(1)] string Target,
    [property: Id(2)] Anomaly Payload,
    [property: Id(3)] int Attempts,
    [property: Id(4)] string Reason,
    [property: Id(5)] DateTime FirstSubmittedUtc,
    [property: Id(6)] DateTime DeadLetteredUtc);

[GenerateSerializer, Immutable]
public sealed record DeadLetterPage(
    [property: Id(0)] DeadLetter[] Items,
    [property: Id(1)] int Total);
