using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace Synapse.LoadTest;

/// <summary>What a scenario runs with: the options, the API client, the seeded random source, the report and the progress line.</summary>
internal sealed class RunContext(LoadTestOptions options, MatrixApi api, Report report, TextWriter progressOutput)
{
    private const int SetupConcurrency = 8;

    private readonly string _runId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    private readonly Stopwatch _elapsed = Stopwatch.StartNew();
    private Func<string> _status = () => "";

    public LoadTestOptions Options { get; } = options;

    public MatrixApi Api { get; } = api;

    public Report Report { get; } = report;

    /// <summary>The workload's random source: the same seed gives the same choices.</summary>
    public Random Random { get; } = new(options.Seed);

    /// <summary>Names the phase the progress line shows, and how to describe how far it got.</summary>
    public void Phase(string name, Func<string>? status = null) =>
        _status = () => status is null ? name : $"{name}: {status()}";

    /// <summary>Prints the progress line every second until <paramref name="stop"/> (when progress is on).</summary>
    public async Task ShowProgressAsync(CancellationToken stop)
    {
        if (!Options.Progress)
        {
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                await progressOutput.WriteLineAsync(
                    $"[{_elapsed.Elapsed.TotalSeconds,6:F1}s] {Options.Scenario} {_status()} · {Api.Requests.ToString(CultureInfo.InvariantCulture)} requests");
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The localpart of account <paramref name="index"/> of <paramref name="role"/>: fixed with --reuse-users, per run otherwise.</summary>
    public string Localpart(string role, int index) => Options.ReuseUsers
        ? string.Create(CultureInfo.InvariantCulture, $"{Options.UserPrefix}-{Options.Scenario}-{role}{index}")
        : string.Create(CultureInfo.InvariantCulture, $"{Options.UserPrefix}-{_runId}-{role}{index}");

    /// <summary>Registers (or, reusing, logs into) <paramref name="count"/> accounts of <paramref name="role"/>, a few at a time.</summary>
    public async Task<List<Account>> AccountsAsync(string role, int count)
    {
        var accounts = new Account[count];
        int done = 0;
        Phase($"registering {role}s", () => $"{Volatile.Read(ref done)}/{count}");
        await ForEachAsync(Enumerable.Range(0, count), SetupConcurrency, async i =>
        {
            accounts[i] = await Api.RegisterAsync(Options.BaseUrl, Localpart(role, i), Options.Password, Options.SharedSecret, Options.ReuseUsers);
            Interlocked.Increment(ref done);
        });
        return [.. accounts];
    }

    public async Task<string> CreateRoomAsync(Account owner, string name)
    {
        var created = await Api.SendAsync(HttpMethod.Post, Options.BaseUrl, "_matrix/client/v3/createRoom", owner.AccessToken,
            new { preset = "public_chat", name });
        return created.GetProperty("room_id").GetString()!;
    }

    public Task JoinAsync(Account who, string roomId) =>
        Api.SendAsync(HttpMethod.Post, Options.BaseUrl, $"_matrix/client/v3/join/{Uri.EscapeDataString(roomId)}", who.AccessToken, new { });

    /// <summary>Has every account join every room, a few at a time.</summary>
    public async Task JoinAllAsync(IReadOnlyList<Account> accounts, IReadOnlyList<string> rooms)
    {
        var pairs = accounts.SelectMany(a => rooms.Select(r => (Account: a, Room: r))).ToList();
        int done = 0;
        Phase("joining", () => $"{Volatile.Read(ref done)}/{pairs.Count}");
        await ForEachAsync(pairs, SetupConcurrency, async pair =>
        {
            await JoinAsync(pair.Account, pair.Room);
            Interlocked.Increment(ref done);
        });
    }

    /// <summary>Sends one m.room.message with a fresh transaction ID; returns its event ID.</summary>
    public async Task<string> SendMessageAsync(Uri server, Account sender, string roomId, string body)
    {
        string txn = Guid.NewGuid().ToString("N");
        var sent = await Api.SendAsync(HttpMethod.Put, server,
            $"_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/send/m.room.message/{txn}", sender.AccessToken,
            new { msgtype = "m.text", body });
        return sent.GetProperty("event_id").GetString()!;
    }

    /// <summary>
    /// The body of message <paramref name="index"/>: 20–200 characters, the length a function of the seed and the index
    /// (so concurrent senders get the same bodies in every run with the same seed).
    /// </summary>
    public string MessageBody(int index)
    {
        uint mixed = unchecked(((uint)index * 2654435761u) ^ (uint)Options.Seed * 40503u);
        int length = 20 + (int)(mixed % 181);
        string head = string.Create(CultureInfo.InvariantCulture, $"load message {index} ");
        return head.Length >= length ? head : head + new string('x', length - head.Length);
    }

    /// <summary>Runs <paramref name="action"/> over <paramref name="items"/> with at most <paramref name="concurrency"/> at a time.</summary>
    public static Task ForEachAsync<T>(IEnumerable<T> items, int concurrency, Func<T, Task> action) =>
        Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (item, _) => await action(item));

    /// <summary>The event IDs in a sync response's joined-room timelines, and whether any timeline was limited.</summary>
    public static (List<(string Room, string EventId)> Events, bool Limited) TimelineEvents(JsonElement sync)
    {
        var events = new List<(string, string)>();
        bool limited = false;
        if (sync.TryGetProperty("rooms", out var rooms) && rooms.TryGetProperty("join", out var join))
        {
            foreach (var room in join.EnumerateObject())
            {
                if (!room.Value.TryGetProperty("timeline", out var timeline))
                {
                    continue;
                }

                limited |= timeline.TryGetProperty("limited", out var l) && l.ValueKind == JsonValueKind.True;
                if (timeline.TryGetProperty("events", out var list))
                {
                    foreach (var e in list.EnumerateArray())
                    {
                        if (e.TryGetProperty("event_id", out var id) && id.GetString() is { } eventId)
                        {
                            events.Add((room.Name, eventId));
                        }
                    }
                }
            }
        }

        return (events, limited);
    }
}
