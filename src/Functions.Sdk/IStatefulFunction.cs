namespace Fleet.Functions;

/// <summary>
/// A function whose warm state (its fields) must outlive its execution environment. In a sensor's
/// environment the platform calls <see cref="SaveState"/> when it checkpoints the sensor (write-behind,
/// never per event) and <see cref="RestoreState"/> right after the next cold start, so the function
/// continues where it left off after the sensor was reclaimed or the silo restarted. Elsewhere (the
/// stateless pool) the interface is ignored, as Lambda ignores globals between environments.
/// </summary>
public interface IStatefulFunction
{
    /// <summary>The state to keep, or null for none. Called between invocations, never during one.</summary>
    byte[]? SaveState();

    /// <summary>Restores what <see cref="SaveState"/> returned (possibly written by an older version of the function).</summary>
    void RestoreState(byte[] state);
}
