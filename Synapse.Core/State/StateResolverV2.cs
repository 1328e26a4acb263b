using Synapse.Auth;
using Synapse.Events;
using Synapse.RoomVersions;

namespace Synapse.State;

/// <summary>
/// State resolution for room versions 2 and later: merges the room states after several forward extremities
/// (or any set of state maps) into one. Room version 1 uses the original algorithm, which is not implemented here:
/// <see cref="ResolveAsync(RoomVersion, IReadOnlyList{IReadOnlyDictionary{TypeStateKey, string}}, IEventSource, CancellationToken)"/>
/// refuses it.
/// </summary>
/// <remarks>
/// <para>Spec: Room Versions v2–v11, "State resolution" (rooms/fragments/v2-state-res.md). The steps:</para>
/// <list type="number">
/// <item>Split the states into the unconflicted state map and the conflicted state set; the full conflicted set adds
/// the auth difference. Select the power events of the full conflicted set and the events of their auth chains
/// that also belong to the full conflicted set, and sort them by the reverse topological power ordering.</item>
/// <item>Apply the iterative auth checks to them, starting from the unconflicted state map.</item>
/// <item>Sort the remaining events of the full conflicted set by the mainline ordering based on the power levels
/// event of that partially resolved state.</item>
/// <item>Apply the iterative auth checks to them.</item>
/// <item>Put the unconflicted state map back on top.</item>
/// </list>
/// <para>Where the text can be read two ways, or where a literal reading differs from what Synapse, Ruma and
/// gomatrixserverlib all do, this follows the deployed implementations: servers must reach the same state. Each
/// place says so in a comment:</para>
/// <list type="bullet">
/// <item>The auth difference leaves out unconflicted events (the spec's auth chain excludes the event it starts
/// from, so read literally it could hold an unconflicted event cited on one side only).</item>
/// <item>A power event is a power levels or join rules event, or a kick or ban (membership leave or ban with
/// <c>sender</c> ≠ <c>state_key</c>); <c>m.room.create</c> is not one, as the spec defines it.</item>
/// <item>Step 1 takes the events of the power events' auth chains that are in the full conflicted set by walking
/// auth events within the full conflicted set; the topological order uses the auth events within the sorted set.</item>
/// <item>Event IDs compare by Unicode code point (as Python, Rust and Go strings do), not by UTF-16 unit.</item>
/// <item>In the iterative auth checks an event is checked against the partially resolved state for each key the
/// auth events selection names; only a key missing from that state is taken from the event's own auth events,
/// and only from one that was not rejected.</item>
/// </list>
/// <para>Events the <see cref="IEventSource"/> does not have are left out: a conflicted event that cannot be loaded
/// takes no part (its key ends up with whatever the other events decide, or absent), a missing auth event ends the
/// walk of that chain. Events in an auth cycle (impossible with hashed event IDs) are never applied.</para>
/// <para>Room version 12's changes to the algorithm (an empty starting state, the conflicted state subgraph) are not
/// here: the version registry stops at 11.</para>
/// </remarks>
public static class StateResolverV2
{
    private const int Infinity = int.MaxValue;

    private static readonly TypeStateKey PowerLevelsKey = new(AuthEventTypes.PowerLevels, "");

    /// <summary>
    /// Resolves <paramref name="stateSets"/> ((type, state_key) → event ID maps) of a room of
    /// <paramref name="version"/>, reading events from <paramref name="events"/>. Third-party invites are checked
    /// without a signature verifier, so they fail the auth checks; federation passes one with the other overload.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="version"/> uses state resolution v1.</exception>
    public static Task<IReadOnlyDictionary<TypeStateKey, string>> ResolveAsync(
        RoomVersion version, IReadOnlyList<IReadOnlyDictionary<TypeStateKey, string>> stateSets, IEventSource events,
        CancellationToken cancellationToken) =>
        ResolveAsync(version, stateSets, events, null, cancellationToken);

    /// <summary>
    /// Resolves <paramref name="stateSets"/> ((type, state_key) → event ID maps) of a room of
    /// <paramref name="version"/>, reading events from <paramref name="events"/> and checking the signatures the
    /// authorisation rules need with <paramref name="signatures"/> (see <see cref="EventAuthorizer"/>).
    /// </summary>
    /// <returns>The resolved state: a new map the caller owns.</returns>
    /// <exception cref="ArgumentException"><paramref name="version"/> uses state resolution v1.</exception>
    public static async Task<IReadOnlyDictionary<TypeStateKey, string>> ResolveAsync(
        RoomVersion version, IReadOnlyList<IReadOnlyDictionary<TypeStateKey, string>> stateSets, IEventSource events,
        IAuthSignatureVerifier? signatures, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(version);
        ArgumentNullException.ThrowIfNull(stateSets);
        ArgumentNullException.ThrowIfNull(events);
        if (version.StateResolution != StateResolutionAlgorithm.V2)
        {
            throw new ArgumentException(
                $"Room version {version.Identifier} uses the room version 1 state resolution algorithm, which is not implemented.", nameof(version));
        }

        switch (stateSets.Count)
        {
            case 0:
                return new Dictionary<TypeStateKey, string>();
            case 1:
                return new Dictionary<TypeStateKey, string>(stateSets[0]);
        }

        var (unconflicted, conflictedKeys) = Split(stateSets);
        if (conflictedKeys.Count == 0)
        {
            return unconflicted;
        }

        var graph = await AuthGraph.LoadAsync(DistinctEventIds(stateSets), events, cancellationToken).ConfigureAwait(false);
        bool[] fullConflicted = FullConflictedSet(graph, stateSets, unconflicted, conflictedKeys);

        // Step 1.
        bool[] powerSet = PowerEventsAndTheirConflictedAncestors(graph, fullConflicted);
        var powerOrder = ReverseTopologicalPowerOrder(graph, powerSet, version);

        var authEventIds = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < graph.Count; i++)
        {
            if (fullConflicted[i])
            {
                foreach (int a in graph.AuthEvents(i))
                {
                    authEventIds.Add(graph[a].EventId);
                }
            }
        }

        var rejected = authEventIds.Count == 0
            ? (IReadOnlySet<string>)authEventIds
            : await events.GetRejectedAsync(authEventIds, cancellationToken).ConfigureAwait(false);

        // Step 2.
        var state = new Dictionary<TypeStateKey, string>(unconflicted);
        IterativeAuthChecks(graph, powerOrder, state, rejected, signatures);

        // Step 3: "all remaining events that weren't picked in step 1", i.e. the rest of the full conflicted set.
        var remaining = new List<int>();
        for (int i = 0; i < graph.Count; i++)
        {
            if (fullConflicted[i] && !powerSet[i])
            {
                remaining.Add(i);
            }
        }

        int powerLevels = state.TryGetValue(PowerLevelsKey, out string? powerLevelsId) && graph.TryGetIndex(powerLevelsId, out int p) ? p : -1;
        var mainlineOrder = MainlineOrder(graph, remaining, powerLevels);

        // Step 4.
        IterativeAuthChecks(graph, mainlineOrder, state, rejected, signatures);

        // Step 5.
        foreach (var (key, eventId) in unconflicted)
        {
            state[key] = eventId;
        }

        return state;
    }

    /// <summary>
    /// The reverse topological power ordering of <paramref name="eventIds"/>, the auth DAG and the senders' power
    /// levels read from <paramref name="graphEvents"/> (which must include the events themselves).
    /// </summary>
    internal static IReadOnlyList<string> ReverseTopologicalPowerOrder(IEnumerable<Pdu> graphEvents, IEnumerable<string> eventIds, RoomVersion version)
    {
        var graph = AuthGraph.FromEvents(graphEvents);
        var set = new bool[graph.Count];
        foreach (string id in eventIds)
        {
            set[graph.IndexOf(id)] = true;
        }

        return ReverseTopologicalPowerOrder(graph, set, version).Select(i => graph[i].EventId).ToList();
    }

    /// <summary>
    /// The mainline ordering of <paramref name="eventIds"/> based on <paramref name="powerLevelsEventId"/> (none:
    /// an empty mainline), the auth DAG read from <paramref name="graphEvents"/>.
    /// </summary>
    internal static IReadOnlyList<string> MainlineOrder(IEnumerable<Pdu> graphEvents, IEnumerable<string> eventIds, string? powerLevelsEventId)
    {
        var graph = AuthGraph.FromEvents(graphEvents);
        var events = eventIds.Select(graph.IndexOf).ToList();
        int powerLevels = powerLevelsEventId is null ? -1 : graph.IndexOf(powerLevelsEventId);
        return MainlineOrder(graph, events, powerLevels).Select(i => graph[i].EventId).ToList();
    }

    /// <summary>Compares strings by Unicode code point, the order the other implementations use for event IDs.</summary>
    internal static int CompareCodePoints(string x, string y)
    {
        int common = x.AsSpan().CommonPrefixLength(y);
        if (common == x.Length || common == y.Length)
        {
            return x.Length.CompareTo(y.Length);
        }

        return CodePointOrderKey(x[common]).CompareTo(CodePointOrderKey(y[common]));

        // UTF-16 units in code point order: surrogates (U+10000 and above) sort after U+E000–U+FFFF.
        static int CodePointOrderKey(char c) => c < 0xD800 ? c : c >= 0xE000 ? c - 0x800 : c + 0x2000;
    }

    /// <summary>
    /// Unconflicted state map: the keys present in every set with the same event. Every other key is conflicted.
    /// </summary>
    private static (Dictionary<TypeStateKey, string> Unconflicted, HashSet<TypeStateKey> ConflictedKeys) Split(
        IReadOnlyList<IReadOnlyDictionary<TypeStateKey, string>> stateSets)
    {
        var unconflicted = new Dictionary<TypeStateKey, string>(stateSets[0].Count);
        var conflicted = new HashSet<TypeStateKey>();
        foreach (var set in stateSets)
        {
            foreach (var (key, eventId) in set)
            {
                if (unconflicted.ContainsKey(key) || conflicted.Contains(key))
                {
                    continue;
                }

                bool same = true;
                foreach (var other in stateSets)
                {
                    if (!other.TryGetValue(key, out string? otherId) || !string.Equals(otherId, eventId, StringComparison.Ordinal))
                    {
                        same = false;
                        break;
                    }
                }

                if (same)
                {
                    unconflicted.Add(key, eventId);
                }
                else
                {
                    conflicted.Add(key);
                }
            }
        }

        return (unconflicted, conflicted);
    }

    private static List<string> DistinctEventIds(IReadOnlyList<IReadOnlyDictionary<TypeStateKey, string>> stateSets)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var ids = new List<string>();
        foreach (var set in stateSets)
        {
            foreach (string id in set.Values)
            {
                if (seen.Add(id))
                {
                    ids.Add(id);
                }
            }
        }

        return ids;
    }

    /// <summary>
    /// The full conflicted set: the conflicted events plus the auth difference ∪Cᵢ − ∩Cᵢ, where Cᵢ is the union of
    /// the auth chains of the events of state i, less the unconflicted events.
    /// </summary>
    /// <remarks>
    /// <para>The auth chains of the unconflicted events (U) are in every Cᵢ, so they are walked once and each Cᵢ is
    /// then the walk from the conflicted events of state i that stops at U: x ∈ Cᵢ ⇔ x ∈ U or the walk of i reached x.</para>
    /// <para>An auth chain does not include the event it starts from, so read literally the auth difference also holds
    /// an unconflicted event that the events of some states cite and those of others do not. Synapse (whose store
    /// counts a state's own events in its Cᵢ), Ruma and gomatrixserverlib all leave unconflicted events out, and
    /// replaying one can change the result (an unconflicted change to invite-only, cited on one side only, replayed
    /// after the old public join rules, would then reject a join made while the room was public). State resolution is
    /// only useful if servers agree, so this follows them.</para>
    /// </remarks>
    private static bool[] FullConflictedSet(
        AuthGraph graph, IReadOnlyList<IReadOnlyDictionary<TypeStateKey, string>> stateSets,
        Dictionary<TypeStateKey, string> unconflicted, HashSet<TypeStateKey> conflictedKeys)
    {
        int n = graph.Count;
        var stack = new Stack<int>();

        var isUnconflicted = new bool[n];
        var inCommonChain = new bool[n];
        foreach (string id in unconflicted.Values)
        {
            if (graph.TryGetIndex(id, out int i))
            {
                isUnconflicted[i] = true;
                PushAuthEvents(graph, i, stack);
            }
        }

        while (stack.TryPop(out int x))
        {
            if (!inCommonChain[x])
            {
                inCommonChain[x] = true;
                PushAuthEvents(graph, x, stack);
            }
        }

        var chains = new int[n];
        var walkedBy = new int[n];
        for (int s = 0; s < stateSets.Count; s++)
        {
            int mark = s + 1;
            foreach (var (key, id) in stateSets[s])
            {
                if (conflictedKeys.Contains(key) && graph.TryGetIndex(id, out int i))
                {
                    PushAuthEvents(graph, i, stack);
                }
            }

            while (stack.TryPop(out int x))
            {
                if (walkedBy[x] == mark || inCommonChain[x])
                {
                    continue;
                }

                walkedBy[x] = mark;
                chains[x]++;
                PushAuthEvents(graph, x, stack);
            }
        }

        var fullConflicted = new bool[n];
        for (int i = 0; i < n; i++)
        {
            fullConflicted[i] = !inCommonChain[i] && !isUnconflicted[i] && chains[i] > 0 && chains[i] < stateSets.Count;
        }

        foreach (var set in stateSets)
        {
            foreach (var (key, id) in set)
            {
                if (conflictedKeys.Contains(key) && graph.TryGetIndex(id, out int i))
                {
                    fullConflicted[i] = true;
                }
            }
        }

        return fullConflicted;
    }

    private static void PushAuthEvents(AuthGraph graph, int i, Stack<int> stack)
    {
        foreach (int a in graph.AuthEvents(i))
        {
            stack.Push(a);
        }
    }

    /// <summary>
    /// Power events: state events that might take an ability away. <c>m.room.create</c> is not one in the spec's
    /// definition; Synapse and Ruma count it, which can only matter when the create event is itself in the full
    /// conflicted set, i.e. when the states do not all hold the same create event.
    /// </summary>
    private static bool IsPowerEvent(Pdu ev)
    {
        if (ev.StateKey is null)
        {
            return false;
        }

        return ev.Type switch
        {
            AuthEventTypes.PowerLevels or AuthEventTypes.JoinRules => true,
            AuthEventTypes.Member => ev.ContentString("membership") is Memberships.Leave or Memberships.Ban
                && !string.Equals(ev.Sender, ev.StateKey, StringComparison.Ordinal),
            _ => false,
        };
    }

    /// <summary>
    /// Step 1's set: the power events of the full conflicted set and the events of their auth chains that are in
    /// the full conflicted set.
    /// </summary>
    /// <remarks>
    /// The walk stops at an event outside the full conflicted set, as Synapse and Ruma do. Read literally the spec
    /// ("the events in the auth chain of P which also belong to the full conflicted set", v12 wording) would go on
    /// through it; that differs only for a conflicted event lying in every state's auth chain behind such an event,
    /// which then waits for step 3.
    /// </remarks>
    private static bool[] PowerEventsAndTheirConflictedAncestors(AuthGraph graph, bool[] fullConflicted)
    {
        var selected = new bool[graph.Count];
        var stack = new Stack<int>();
        for (int i = 0; i < graph.Count; i++)
        {
            if (fullConflicted[i] && IsPowerEvent(graph[i]))
            {
                selected[i] = true;
                stack.Push(i);
            }
        }

        while (stack.TryPop(out int x))
        {
            foreach (int a in graph.AuthEvents(x))
            {
                if (fullConflicted[a] && !selected[a])
                {
                    selected[a] = true;
                    stack.Push(a);
                }
            }
        }

        return selected;
    }

    /// <summary>
    /// Kahn's algorithm over the auth DAG restricted to <paramref name="set"/> (an edge for each auth event in the
    /// set), taking at each step the smallest available event by (sender's power level descending,
    /// <c>origin_server_ts</c>, event ID).
    /// </summary>
    private static List<int> ReverseTopologicalPowerOrder(AuthGraph graph, bool[] set, RoomVersion version)
    {
        int n = graph.Count;
        var waitingFor = new int[n];
        var successors = new List<int>?[n];
        for (int x = 0; x < n; x++)
        {
            if (!set[x])
            {
                continue;
            }

            foreach (int a in graph.AuthEvents(x))
            {
                if (set[a])
                {
                    (successors[a] ??= []).Add(x);
                    waitingFor[x]++;
                }
            }
        }

        var levels = new Dictionary<int, PowerLevels>();
        var available = new PriorityQueue<int, PowerOrderKey>(PowerOrderKey.Comparer);
        for (int x = 0; x < n; x++)
        {
            if (set[x] && waitingFor[x] == 0)
            {
                available.Enqueue(x, PowerOrderKey.For(graph, x, version, levels));
            }
        }

        var order = new List<int>();
        while (available.TryDequeue(out int x, out _))
        {
            order.Add(x);
            foreach (int next in successors[x] ?? [])
            {
                if (--waitingFor[next] == 0)
                {
                    available.Enqueue(next, PowerOrderKey.For(graph, next, version, levels));
                }
            }
        }

        return order;
    }

    /// <summary>
    /// Sorts <paramref name="events"/> by mainline position descending (∞, no power levels event of the mainline in
    /// the event's power levels chain, first), then <c>origin_server_ts</c>, then event ID.
    /// </summary>
    private static List<int> MainlineOrder(AuthGraph graph, List<int> events, int powerLevels)
    {
        // The mainline [P0, P1, ...]: each Pi+1 is the power levels event among the auth events of Pi.
        var mainline = new Dictionary<int, int>();
        for (int p = powerLevels, position = 0; p >= 0 && mainline.TryAdd(p, position++);)
        {
            p = graph.PowerLevelsAuthEvent(p);
        }

        var positionsFrom = new Dictionary<int, int>();
        var path = new List<int>();
        var keyed = new List<(int Position, long Timestamp, string EventId, int Index)>(events.Count);
        foreach (int e in events)
        {
            var ev = graph[e];
            keyed.Add((MainlinePosition(graph, e, mainline, positionsFrom, path), ev.OriginServerTs, ev.EventId, e));
        }

        keyed.Sort(static (x, y) =>
        {
            int c = y.Position.CompareTo(x.Position);
            if (c == 0)
            {
                c = x.Timestamp.CompareTo(y.Timestamp);
            }

            return c != 0 ? c : CompareCodePoints(x.EventId, y.EventId);
        });
        return keyed.ConvertAll(k => k.Index);
    }

    /// <summary>
    /// The mainline position of <paramref name="e"/>: walking e₁, e₂, … (each the power levels event among the
    /// auth events of the one before; e itself is not part of it), the mainline index of the first eⱼ on the
    /// mainline, or ∞. Positions found from each eⱼ are remembered, since most events share their power levels chain.
    /// </summary>
    private static int MainlinePosition(AuthGraph graph, int e, Dictionary<int, int> mainline, Dictionary<int, int> positionsFrom, List<int> path)
    {
        path.Clear();
        int position = Infinity;
        for (int p = graph.PowerLevelsAuthEvent(e); p >= 0; p = graph.PowerLevelsAuthEvent(p))
        {
            if (mainline.TryGetValue(p, out int found) || positionsFrom.TryGetValue(p, out found))
            {
                position = found;
                break;
            }

            if (path.Count > graph.Count)
            {
                break; // A cycle of power levels events: only possible with forged v1/v2 event IDs.
            }

            path.Add(p);
        }

        foreach (int p in path)
        {
            positionsFrom[p] = position;
        }

        return position;
    }

    /// <summary>
    /// Applies each event of <paramref name="order"/> to <paramref name="state"/> when the authorisation rules allow
    /// it. The auth state of an event: for each key its auth events selection names, the event in
    /// <paramref name="state"/>; a key missing there comes from the event's own auth events, unless that auth event
    /// was rejected (Spec: "If a (event_type, state_key) key that is required for checking the authorization rules
    /// is not present in the state, then the appropriate state event from the event's auth_events is used if the
    /// auth event is not rejected").
    /// </summary>
    private static void IterativeAuthChecks(
        AuthGraph graph, List<int> order, Dictionary<TypeStateKey, string> state, IReadOnlySet<string> rejected,
        IAuthSignatureVerifier? signatures)
    {
        var authState = new Dictionary<TypeStateKey, Pdu>();
        foreach (int x in order)
        {
            var ev = graph[x];
            if (ev.StateKey is null)
            {
                continue;
            }

            authState.Clear();
            foreach (int a in graph.AuthEvents(x))
            {
                var authEvent = graph[a];
                if (authEvent.StateKey is not null && !rejected.Contains(authEvent.EventId))
                {
                    authState.TryAdd(new TypeStateKey(authEvent.Type, authEvent.StateKey), authEvent);
                }
            }

            foreach (var key in AuthEventSelection.Required(ev))
            {
                if (state.TryGetValue(key, out string? id) && graph.TryGetIndex(id, out int i))
                {
                    authState[key] = graph[i];
                }
            }

            if (EventAuthorizer.Check(ev, authState, signatures).Allowed)
            {
                state[new TypeStateKey(ev.Type, ev.StateKey)] = ev.EventId;
            }
        }
    }

    /// <summary>The reverse topological power ordering's comparison key of one event.</summary>
    private readonly record struct PowerOrderKey(long SenderLevel, long Timestamp, string EventId)
    {
        public static readonly IComparer<PowerOrderKey> Comparer = Comparer<PowerOrderKey>.Create(static (x, y) =>
        {
            int c = y.SenderLevel.CompareTo(x.SenderLevel);
            if (c == 0)
            {
                c = x.Timestamp.CompareTo(y.Timestamp);
            }

            return c != 0 ? c : CompareCodePoints(x.EventId, y.EventId);
        });

        public static PowerOrderKey For(AuthGraph graph, int x, RoomVersion version, Dictionary<int, PowerLevels> levels)
        {
            var ev = graph[x];
            return new PowerOrderKey(SenderPowerLevel(graph, x, version, levels), ev.OriginServerTs, ev.EventId);
        }

        /// <summary>
        /// The sender's power level "when looking at their respective auth_events": the power levels event among
        /// them, else the implied levels (the creator 100, everyone else 0) from the create event among them.
        /// </summary>
        private static long SenderPowerLevel(AuthGraph graph, int x, RoomVersion version, Dictionary<int, PowerLevels> levels)
        {
            string sender = graph[x].Sender;
            int powerLevels = graph.PowerLevelsAuthEvent(x);
            if (powerLevels >= 0)
            {
                if (!levels.TryGetValue(powerLevels, out var parsed))
                {
                    parsed = PowerLevels.FromContent(graph[powerLevels].Content, version);
                    levels.Add(powerLevels, parsed);
                }

                return parsed.UserLevel(sender);
            }

            foreach (int a in graph.AuthEvents(x))
            {
                var authEvent = graph[a];
                if (authEvent.Type == AuthEventTypes.Create && authEvent.StateKey == "")
                {
                    return string.Equals(PowerLevels.CreatorOf(authEvent, version), sender, StringComparison.Ordinal)
                        ? PowerLevels.CreatorLevelWithoutEvent
                        : PowerLevels.DefaultUsersDefault;
                }
            }

            return PowerLevels.DefaultUsersDefault;
        }
    }

    /// <summary>
    /// The events reachable from the state sets through <c>auth_events</c>, numbered densely so the walks use
    /// arrays instead of sets of strings.
    /// </summary>
    private sealed class AuthGraph
    {
        private readonly Dictionary<string, int> _index;
        private readonly List<Pdu> _events;
        private readonly int[][] _authEvents;
        private readonly int[] _powerLevelsAuthEvent;

        private AuthGraph(Dictionary<string, int> index, List<Pdu> events)
        {
            _index = index;
            _events = events;
            _authEvents = new int[events.Count][];
            _powerLevelsAuthEvent = new int[events.Count];
            var found = new List<int>();
            for (int i = 0; i < events.Count; i++)
            {
                found.Clear();
                _powerLevelsAuthEvent[i] = -1;
                foreach (string id in events[i].AuthEvents)
                {
                    if (index.TryGetValue(id, out int a) && !found.Contains(a))
                    {
                        found.Add(a);
                        var authEvent = events[a];
                        if (_powerLevelsAuthEvent[i] < 0 && authEvent.Type == AuthEventTypes.PowerLevels && authEvent.StateKey == "")
                        {
                            _powerLevelsAuthEvent[i] = a;
                        }
                    }
                }

                _authEvents[i] = [.. found];
            }
        }

        public int Count => _events.Count;

        public Pdu this[int i] => _events[i];

        public static async Task<AuthGraph> LoadAsync(List<string> startIds, IEventSource source, CancellationToken cancellationToken)
        {
            var index = new Dictionary<string, int>(StringComparer.Ordinal);
            var events = new List<Pdu>();
            var requested = new HashSet<string>(startIds, StringComparer.Ordinal);
            var frontier = startIds;
            while (frontier.Count > 0)
            {
                var found = await source.GetEventsAsync(frontier, cancellationToken).ConfigureAwait(false);
                var next = new List<string>();
                foreach (string id in frontier)
                {
                    if (!found.TryGetValue(id, out var ev))
                    {
                        continue;
                    }

                    index.Add(id, events.Count);
                    events.Add(ev);
                    foreach (string authId in ev.AuthEvents)
                    {
                        if (requested.Add(authId))
                        {
                            next.Add(authId);
                        }
                    }
                }

                frontier = next;
            }

            return new AuthGraph(index, events);
        }

        public static AuthGraph FromEvents(IEnumerable<Pdu> events)
        {
            var index = new Dictionary<string, int>(StringComparer.Ordinal);
            var list = new List<Pdu>();
            foreach (var ev in events)
            {
                if (index.TryAdd(ev.EventId, list.Count))
                {
                    list.Add(ev);
                }
            }

            return new AuthGraph(index, list);
        }

        public bool TryGetIndex(string eventId, out int i) => _index.TryGetValue(eventId, out i);

        public int IndexOf(string eventId) =>
            _index.TryGetValue(eventId, out int i) ? i : throw new ArgumentException($"Event {eventId} is not in the graph.", nameof(eventId));

        /// <summary>The auth events of event <paramref name="i"/> that are in the graph, in order, each once.</summary>
        public ReadOnlySpan<int> AuthEvents(int i) => _authEvents[i];

        /// <summary>The first <c>m.room.power_levels</c> event among the auth events of event <paramref name="i"/>, or -1.</summary>
        public int PowerLevelsAuthEvent(int i) => _powerLevelsAuthEvent[i];
    }
}
