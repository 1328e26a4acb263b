using Synapse.LoadTest;

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
return await LoadTestCommand.RunAsync(args, Console.Out, Console.Error, stop.Token);
