using BenchmarkDotNet.Running;
using Synapse.Benchmarks;

if (args.Length > 0 && args[0] == "sync")
{
    return await SyncHarness.RunAsync(args[1..]).ConfigureAwait(false);
}

if (args.Length > 0 && args[0] == "keys")
{
    return await KeysHarness.RunAsync(args[1..]).ConfigureAwait(false);
}

if (args.Length > 0 && args[0] == "replication")
{
    return await ReplicationLinkHarness.RunAsync(args[1..]).ConfigureAwait(false);
}

BenchmarkSwitcher.FromAssembly(typeof(SyncHarness).Assembly).Run(args);
return 0;
