using System.Data.Common;
using Synapse.Identifiers;

namespace Synapse.Storage;

/// <summary><see cref="IToDeviceStore"/> over both engines (the SQL is common to both).</summary>
internal sealed class ToDeviceStore : IToDeviceStore
{
    private readonly SynapseDatabase _db;

    public ToDeviceStore(SynapseDatabase db) => _db = db;

    public Task<IReadOnlyList<ToDeviceRecipient>> AddMessagesAsync(ToDeviceBatch batch, long streamId,
        CancellationToken cancellationToken) =>
        _db.WriteAsync<IReadOnlyList<ToDeviceRecipient>>(async (c, t, ct) =>
        {
            // The transaction ID is claimed in the same transaction as the messages: a retry racing the first request
            // either sees the claim (and stores nothing) or waits for it.
            await using (var claim = c.Command("""
                INSERT INTO device_inbox_txns (sender_user, sender_device, txn_id, stream_id, inserted_ts)
                VALUES (@user, @device, @txn, @stream, @ts)
                ON CONFLICT (sender_user, sender_device, txn_id) DO NOTHING
                """, t)
                .With("@user", batch.Sender.Value).With("@device", batch.SenderDevice.Value)
                .With("@txn", batch.TxnId).With("@stream", streamId).With("@ts", batch.Ts))
            {
                if (await claim.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
                {
                    return [];
                }
            }

            var recipients = new List<(ToDeviceRecipient Recipient, string Json)>();
            foreach (var messages in batch.Messages.GroupBy(m => m.UserId))
            {
                var devices = await GetDeviceIdsAsync(c, t, messages.Key, ct).ConfigureAwait(false);
                var byDevice = new Dictionary<string, string>(StringComparer.Ordinal);
                string? everyDevice = null;
                foreach (var message in messages)
                {
                    if (message.DeviceId is { } deviceId)
                    {
                        byDevice[deviceId.Value] = message.MessageJson;
                    }
                    else
                    {
                        everyDevice = message.MessageJson;
                    }
                }

                foreach (string device in devices)
                {
                    if ((byDevice.GetValueOrDefault(device) ?? everyDevice) is { } json)
                    {
                        recipients.Add((new ToDeviceRecipient(messages.Key.Value, device), json));
                    }
                }
            }

            await using var insert = c.Command("""
                INSERT INTO device_inbox (stream_id, user_id, device_id, message_json) VALUES (@stream, @user, @device, @json)
                """, t).With("@stream", streamId).With("@user", "").With("@device", "").With("@json", "");
            foreach (var (recipient, json) in recipients)
            {
                insert.Parameters["@user"].Value = recipient.UserId;
                insert.Parameters["@device"].Value = recipient.DeviceId;
                insert.Parameters["@json"].Value = json;
                await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return [.. recipients.Select(r => r.Recipient)];
        }, cancellationToken);

    public Task<IReadOnlyList<ToDeviceMessage>> GetMessagesAsync(UserId userId, DeviceId deviceId, long after, long upTo, int limit,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<ToDeviceMessage>>(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT stream_id, message_json FROM device_inbox
                WHERE user_id = @user AND device_id = @device AND stream_id > @after AND stream_id <= @upto
                ORDER BY stream_id LIMIT @limit
                """).With("@user", userId.Value).With("@device", deviceId.Value).With("@after", after).With("@upto", upTo)
                .With("@limit", limit);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var messages = new List<ToDeviceMessage>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                messages.Add(new ToDeviceMessage(reader.GetInt64(0), reader.GetString(1)));
            }

            return messages;
        }, cancellationToken);

    public async Task<int> DeleteMessagesAsync(UserId userId, DeviceId deviceId, long upTo, CancellationToken cancellationToken)
    {
        // Every incremental sync asks; a read first keeps the (on SQLite, single) writer for the syncs that have something
        // to delete.
        bool any = await _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT 1 FROM device_inbox WHERE user_id = @user AND device_id = @device AND stream_id <= @upto LIMIT 1
                """).With("@user", userId.Value).With("@device", deviceId.Value).With("@upto", upTo);
            return await query.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null;
        }, cancellationToken).ConfigureAwait(false);
        if (!any)
        {
            return 0;
        }

        return await _db.WriteAsync(async (c, t, ct) =>
        {
            await using var delete = c.Command("""
                DELETE FROM device_inbox WHERE user_id = @user AND device_id = @device AND stream_id <= @upto
                """, t).With("@user", userId.Value).With("@device", deviceId.Value).With("@upto", upTo);
            return await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    public Task<int> DeleteTransactionsAsync(long beforeTs, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            // The newest row stays: it carries the stream's position across a restart when every inbox is empty.
            await using var delete = c.Command("""
                DELETE FROM device_inbox_txns
                WHERE inserted_ts < @ts AND stream_id < (SELECT MAX(stream_id) FROM device_inbox_txns)
                """, t).With("@ts", beforeTs);
            return await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<IReadOnlyList<(long StreamId, ToDeviceRecipient Recipient)>> GetRecipientsAsync(long after, long upTo, int limit,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<(long, ToDeviceRecipient)>>(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT DISTINCT stream_id, user_id, device_id FROM device_inbox
                WHERE stream_id IN (SELECT DISTINCT stream_id FROM device_inbox
                                    WHERE stream_id > @after AND stream_id <= @upto ORDER BY stream_id LIMIT @limit)
                ORDER BY stream_id, user_id, device_id
                """).With("@after", after).With("@upto", upTo).With("@limit", limit);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var rows = new List<(long, ToDeviceRecipient)>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                rows.Add((reader.GetInt64(0), new ToDeviceRecipient(reader.GetString(1), reader.GetString(2))));
            }

            return rows;
        }, cancellationToken);

    private static async Task<IReadOnlyList<string>> GetDeviceIdsAsync(DbConnection c, DbTransaction t, UserId userId,
        CancellationToken ct)
    {
        await using var query = c.Command("SELECT device_id FROM devices WHERE user_id = @user ORDER BY device_id", t)
            .With("@user", userId.Value);
        await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var devices = new List<string>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            devices.Add(reader.GetString(0));
        }

        return devices;
    }
}
