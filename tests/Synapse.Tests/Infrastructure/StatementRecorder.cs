using System.Collections.Concurrent;
using System.Diagnostics;

namespace Synapse.Tests.Infrastructure;

/// <summary>Npgsql traces every command: the statements run against one test database while this is alive.</summary>
internal sealed class StatementRecorder : IDisposable
{
    private readonly ConcurrentQueue<string> _statements = new();
    private readonly ActivityListener _listener;

    public StatementRecorder(string database)
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                string? db = (activity.GetTagItem("db.namespace") ?? activity.GetTagItem("db.name")) as string;
                if (db == database && (activity.GetTagItem("db.query.text") ?? activity.GetTagItem("db.statement")) is string text)
                {
                    _statements.Enqueue(text);
                }
            },
        };
        ActivitySource.AddActivityListener(_listener);
    }

    /// <summary>The statements recorded since the last call.</summary>
    public List<string> Take()
    {
        var taken = new List<string>();
        while (_statements.TryDequeue(out string? text))
        {
            taken.Add(text);
        }

        return taken;
    }

    /// <summary>Asserts how many statements ran since the last call (listing them when it fails), and returns them.</summary>
    public List<string> AssertTaken(int expected)
    {
        var taken = Take();
        Assert.True(taken.Count == expected, $"{taken.Count} statements, expected {expected}:\n" + string.Join("\n----\n", taken));
        return taken;
    }

    public void Dispose() => _listener.Dispose();
}
