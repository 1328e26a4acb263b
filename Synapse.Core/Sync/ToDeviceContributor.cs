using System.Text.Json.Nodes;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// <c>to_device.events</c>: the requesting device's inbox, oldest first, at most <see cref="Limit"/> per response
/// (Spec: Client-Server API, "Send-to-Device messaging", server behaviour).
/// </summary>
/// <remarks>
/// Exactly once: a message is deleted only when a later sync's <c>since</c> covers its position, which proves the client
/// received the response that carried it. A retried sync with the same <c>since</c> gets the same messages again; a page
/// caps <c>next_batch</c> at the last position it delivered, so the rest comes next.
/// </remarks>
internal sealed class ToDeviceContributor : ISyncContributor
{
    /// <summary>Messages per response, the spec's recommendation.</summary>
    public const int Limit = 100;

    private readonly IToDeviceStore _store;
    private readonly SyncCache _cache;

    public ToDeviceContributor(IToDeviceStore store, SyncCache cache)
    {
        _store = store;
        _cache = cache;
    }

    public async Task ContributeAsync(SyncContext context, SyncResponseBuilder response, CancellationToken cancellationToken)
    {
        if (!context.DeliverToDevice)
        {
            return;
        }

        var requester = context.Requester;
        long from = context.From(StreamNames.ToDevice);
        long upTo = context.Now[StreamNames.ToDevice];
        if (context.Since is not null && _cache.ToDeviceMayNeedDelete(requester.UserId.Value, requester.DeviceId.Value, from))
        {
            await _store.DeleteMessagesAsync(requester.UserId, requester.DeviceId, from, cancellationToken).ConfigureAwait(false);
            _cache.ToDeviceDeleted(requester.UserId.Value, requester.DeviceId.Value, from);
        }

        if (upTo <= from)
        {
            return;
        }

        var messages = await _store.GetMessagesAsync(requester.UserId, requester.DeviceId, from, upTo, Limit + 1, cancellationToken)
            .ConfigureAwait(false);
        int count = messages.Count;
        if (count > Limit)
        {
            // next_batch acknowledges everything up to the position it names, so a page must end on a whole position. It
            // does: a device gets at most one message per position (one per request; the store lets a message for a named
            // device replace the same request's "*" message), so the positions in the inbox are distinct.
            count = Limit;
            response.CapPosition(StreamNames.ToDevice, messages[Limit - 1].StreamId);
        }

        for (int i = 0; i < count; i++)
        {
            response.AddToDevice((JsonObject)JsonNode.Parse(messages[i].Json)!);
        }
    }
}
