using Fleet.Functions;
using Fleet.Functions.Worker;

// One function, one process: frames in on stdin, frames out on stdout (see WorkerProtocol). The real stdout
// is taken before Console.Out is replaced, so what the function prints becomes log frames, never protocol.
var frames = new FrameWriter(Console.OpenStandardOutput());
var stdout = new ConsoleLogWriter(frames, FunctionLogLevel.Information);
var stderr = new ConsoleLogWriter(frames, FunctionLogLevel.Error);
Console.SetOut(stdout);
Console.SetError(stderr);

var worker = new WorkerLoop(frames, [stdout, stderr]);

// A thread the function started ran out of memory: same outcome as in the handler.
AppDomain.CurrentDomain.UnhandledException += (_, e) =>
{
    if (e.ExceptionObject is Exception ex && WorkerLoop.IsOutOfMemory(ex)) worker.ExitOnMemoryLimit(frames.CurrentRequestId);
};

using var input = Console.OpenStandardInput();
return worker.Run(input);
