using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Events;
using Synapse.Http;
using Synapse.Replication.Workers;
using Synapse.Storage;

namespace Synapse.SampleWorker;

/// <summary>
/// The worker type <c>example.app.room_stats</c>: <c>GET /_example/v1/rooms/{roomId}/stats</c>, a few facts about a room
/// for a member of it, read from the shared database through the libraries' public API.
/// </summary>
internal static class RoomStatsWorker
{
    /// <summary>The route: the router sends these requests here (one room always to the same instance), and this worker
    /// refuses every other Matrix path with 404 M_UNRECOGNIZED.</summary>
    private static readonly WorkerRoute Stats = new("^/_example/v1/rooms/[^/]+/stats$", ["GET"], RouteAffinity.Room);

    /// <summary>The type to register.</summary>
    public static WorkerType Type { get; } = new()
    {
        App = "example.app.room_stats",
        Description = "serves GET /_example/v1/rooms/{roomId}/stats (a sample of an application's own worker type)",
        Routes = [Stats],

        // Runs after the worker refused what its routes do not cover and before the homeserver's own endpoints.
        ConfigureApplication = (app, options) => app.Use(async (context, next) =>
        {
            if (!Stats.Matches(context.Request.Method, context.Request.Path.Value ?? "", options))
            {
                await next(context).ConfigureAwait(false);
                return;
            }

            try
            {
                await ServeAsync(context, options).ConfigureAwait(false);
            }
            catch (MatrixException e)
            {
                // The homeserver's error middleware comes later in the pipeline: answer its JSON here.
                await MatrixRequests.WriteErrorAsync(context, e).ConfigureAwait(false);
            }
        }),
    };

    /// <summary>GET /_example/v1/rooms/{roomId}/stats</summary>
    private static async Task ServeAsync(HttpContext context, HomeserverOptions options)
    {
        var cancel = context.RequestAborted;
        var requester = await MatrixRequests.AuthenticateAsync(context).ConfigureAwait(false);
        string roomId = WorkerRouteTable.RoomIdOf(context.Request.Path.Value!)!;

        // The worker has the homeserver's services; the event store reads the database main writes.
        var store = context.RequestServices.GetRequiredService<IEventStore>();
        if (await store.GetRoomAsync(roomId, cancel).ConfigureAwait(false) is null)
        {
            throw MatrixException.NotFound("Unknown room");
        }

        var state = await store.GetCurrentStateIdsAsync(roomId, cancel).ConfigureAwait(false);
        var members = await store.GetEventsAsync(
            [.. state.Where(s => s.Key.Type == "m.room.member").Select(s => s.Value)], cancel).ConfigureAwait(false);
        var joined = members.Where(m => m.Pdu.ContentString("membership") == "join").Select(m => m.Pdu.StateKey).ToHashSet();
        if (!joined.Contains(requester.UserId.Value))
        {
            throw MatrixException.Forbidden("You aren't a member of the room");
        }

        string? name = null;
        if (state.TryGetValue(new TypeStateKey("m.room.name", ""), out string? nameEventId))
        {
            var nameEvent = await store.GetEventsAsync([nameEventId], cancel).ConfigureAwait(false);
            name = nameEvent.Count > 0 ? nameEvent[0].Pdu.ContentString("name") : null;
        }

        context.Response.StatusCode = (int)HttpStatusCode.OK;
        await context.Response.WriteAsJsonAsync(new Dictionary<string, object?>
        {
            ["room_id"] = roomId,
            ["name"] = name,
            ["joined_members"] = joined.Count,
            ["current_state_events"] = state.Count,
            ["served_by"] = options.Worker?.Name,
        }, cancel).ConfigureAwait(false);
    }
}
