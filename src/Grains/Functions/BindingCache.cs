using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Fleet.Grains.Functions;

/// <summary>
/// This silo's copy of the binding table, read once a second (one grain call per silo, not per sensor),
/// so a sensor grain checks its bindings without a call on the hot path. A change made through this silo
/// is applied at once with <see cref="Apply"/>.
/// </summary>
public sealed class BindingCache(IGrainFactory grains, ILogger<BindingCache> logger) : BackgroundService
{
    private BindingTable _table = BindingTable.Empty;

    public static readonly TimeSpan RefreshPeriod = TimeSpan.FromSeconds(1);

    public BindingTable Table => Volatile.Read(ref _table);

    public void Apply(BindingTable table)
    {
        BindingTable current;
        do
        {
            current = Volatile.Read(ref _table);
            if (table.Version <= current.Version) return;
        }
        while (Interlocked.CompareExchange(ref _table, table, current) != current);
    }

    /// <summary>The enabled bindings whose filter matches <paramref name="sensorId"/>'s telemetry topic.</summary>
    public FunctionBinding[] Matching(string sensorId, BindingTable table)
    {
        if (table.Bindings.Count == 0) return [];
        var topic = Topics.Telemetry(sensorId);
        return table.Bindings.Where(b => b.Enabled && Topics.Matches(b.TopicFilter, topic)).ToArray();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(RefreshPeriod);
        do
        {
            try
            {
                Apply(await grains.GetGrain<IFunctionBindingsGrain>(0).Get());
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogDebug(ex, "Reading the binding table failed; keeping version {Version}", Table.Version);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
