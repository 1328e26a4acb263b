using System.Data.Common;
using Synapse.Identifiers;

namespace Synapse.Storage;

/// <summary><see cref="IAccountStore"/> over both engines (the SQL is common to both).</summary>
internal sealed class AccountStore : IAccountStore
{
    private readonly SynapseDatabase _db;

    public AccountStore(SynapseDatabase db) => _db = db;

    public Task<bool> CreateUserAsync(NewUser user, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var insert = c.Command("""
                INSERT INTO users (user_id, user_id_lower, password_hash, created_ts, is_admin, is_guest, user_type, creation_txn)
                VALUES (@id, @lower, @hash, @ts, @admin, @guest, @type, @txn)
                ON CONFLICT (user_id) DO NOTHING
                """, t)
                .With("@id", user.UserId.Value)
                .With("@lower", user.UserId.Value.ToLowerInvariant())
                .With("@hash", user.PasswordHash)
                .With("@ts", user.CreatedTs)
                .With("@admin", user.IsAdmin)
                .With("@guest", user.IsGuest)
                .With("@type", user.UserType)
                .With("@txn", user.CreationTxn);
            if (await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
            {
                if (user.CreationTxn is null)
                {
                    return false;
                }

                await using var existing = c.Command("SELECT creation_txn FROM users WHERE user_id = @id", t)
                    .With("@id", user.UserId.Value);
                return await existing.ExecuteScalarAsync(ct).ConfigureAwait(false) is string txn
                    && string.Equals(txn, user.CreationTxn, StringComparison.Ordinal);
            }

            await using var profile = c.Command("""
                INSERT INTO profiles (user_id, displayname) VALUES (@id, @name)
                ON CONFLICT (user_id) DO UPDATE SET displayname = excluded.displayname
                """, t)
                .With("@id", user.UserId.Value)
                .With("@name", user.DisplayName);
            await profile.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    public Task<UserAccount?> GetUserAsync(UserId userId, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT password_hash, is_admin, is_guest, is_deactivated, user_type, created_ts
                FROM users WHERE user_id = @id
                """).With("@id", userId.Value);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                return null;
            }

            return new UserAccount(userId, reader.GetNullableString(0), reader.GetBoolean(1), reader.GetBoolean(2),
                reader.GetBoolean(3), reader.GetNullableString(4), reader.GetInt64(5));
        }, cancellationToken);

    public Task<UserId?> FindUserIdIgnoringCaseAsync(UserId userId, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            // An exact match wins; otherwise accept a case-insensitive match only when it is unique.
            await using var query = c.Command(
                "SELECT user_id FROM users WHERE user_id_lower = @lower ORDER BY user_id LIMIT 3")
                .With("@lower", userId.Value.ToLowerInvariant());
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var found = new List<string>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                found.Add(reader.GetString(0));
            }

            if (found.Contains(userId.Value))
            {
                return userId;
            }

            return found.Count == 1 ? UserId.Parse(found[0]) : (UserId?)null;
        }, cancellationToken);

    public Task SetPasswordHashAsync(UserId userId, string? passwordHash, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var update = c.Command("UPDATE users SET password_hash = @hash WHERE user_id = @id", t)
                .With("@hash", passwordHash)
                .With("@id", userId.Value);
            return await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<DeviceRemoval> DeactivateUserAsync(UserId userId, long deviceListStreamId, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using (var update = c.Command(
                "UPDATE users SET is_deactivated = @yes, password_hash = NULL WHERE user_id = @id", t)
                .With("@yes", true)
                .With("@id", userId.Value))
            {
                await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            var removed = await DeleteTokensAsync(c, t, "user_id = @user", cmd => cmd.With("@user", userId.Value), ct)
                .ConfigureAwait(false);
            var devices = await DeleteDeviceRowsAsync(c, t, userId, "", cmd => { }, deviceListStreamId, ct).ConfigureAwait(false);
            return new DeviceRemoval(removed, devices);
        }, cancellationToken);

    public Task<NewDeviceToken> AddDeviceAndTokenAsync(UserId userId, DeviceId deviceId, string? displayName, string tokenHash,
        long deviceListStreamId, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            bool created;
            await using (var device = c.Command("""
                INSERT INTO devices (user_id, device_id, display_name) VALUES (@user, @device, @name)
                ON CONFLICT (user_id, device_id) DO NOTHING
                """, t)
                .With("@user", userId.Value)
                .With("@device", deviceId.Value)
                .With("@name", displayName))
            {
                created = await device.ExecuteNonQueryAsync(ct).ConfigureAwait(false) > 0;
            }

            if (created)
            {
                await DeviceListStore.InsertRowsAsync(c, t, deviceListStreamId, userId.Value, [deviceId.Value], ct)
                    .ConfigureAwait(false);
            }

            await using (var token = c.Command("""
                INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts)
                VALUES (@hash, @user, @device, @ts)
                ON CONFLICT (token_hash) DO NOTHING
                RETURNING id
                """, t)
                .With("@hash", tokenHash)
                .With("@user", userId.Value)
                .With("@device", deviceId.Value)
                .With("@ts", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()))
            {
                if (await token.ExecuteScalarAsync(ct).ConfigureAwait(false) is { } id and not DBNull)
                {
                    return new NewDeviceToken(Convert.ToInt64(id, System.Globalization.CultureInfo.InvariantCulture), created);
                }
            }

            // The token is there already: the same request retried (HTTP replication), unless another device holds it.
            await using var existing = c.Command(
                "SELECT id, user_id, device_id FROM access_tokens WHERE token_hash = @hash", t).With("@hash", tokenHash);
            await using var reader = await existing.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await reader.ReadAsync(ct).ConfigureAwait(false)
                || reader.GetString(1) != userId.Value || reader.GetString(2) != deviceId.Value)
            {
                throw new InvalidOperationException("The access token hash belongs to another device.");
            }

            return new NewDeviceToken(reader.GetInt64(0), created);
        }, cancellationToken);

    public Task<AccessTokenOwner?> FindAccessTokenAsync(string tokenHash, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT t.id, t.user_id, t.device_id, u.is_guest, u.is_deactivated
                FROM access_tokens t JOIN users u ON u.user_id = t.user_id
                WHERE t.token_hash = @hash
                """).With("@hash", tokenHash);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                return null;
            }

            return new AccessTokenOwner(reader.GetInt64(0), UserId.Parse(reader.GetString(1)),
                DeviceId.Parse(reader.GetString(2)), reader.GetBoolean(3), reader.GetBoolean(4));
        }, cancellationToken);

    public Task<IReadOnlyList<Device>> GetDevicesAsync(UserId userId, CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<Device>>(async (c, ct) =>
        {
            await using var query = c.Command(DeviceColumns + " WHERE user_id = @user ORDER BY device_id")
                .With("@user", userId.Value);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var devices = new List<Device>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                devices.Add(ReadDevice(reader));
            }

            return devices;
        }, cancellationToken);

    public Task<Device?> GetDeviceAsync(UserId userId, DeviceId deviceId, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command(DeviceColumns + " WHERE user_id = @user AND device_id = @device")
                .With("@user", userId.Value)
                .With("@device", deviceId.Value);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadDevice(reader) : null;
        }, cancellationToken);

    public Task<bool> SetDeviceDisplayNameAsync(UserId userId, DeviceId deviceId, string? displayName, long deviceListStreamId,
        CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var update = c.Command(
                "UPDATE devices SET display_name = @name WHERE user_id = @user AND device_id = @device", t)
                .With("@name", displayName)
                .With("@user", userId.Value)
                .With("@device", deviceId.Value);
            if (await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
            {
                return false;
            }

            // The display name is part of the device keys others see in /keys/query.
            await DeviceListStore.InsertRowsAsync(c, t, deviceListStreamId, userId.Value, [deviceId.Value], ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    public Task<DeviceRemoval> DeleteDevicesAsync(UserId userId, IReadOnlyCollection<DeviceId> deviceIds, long deviceListStreamId,
        CancellationToken cancellationToken)
    {
        if (deviceIds.Count == 0)
        {
            return Task.FromResult(new DeviceRemoval([], []));
        }

        return _db.WriteAsync(async (c, t, ct) =>
        {
            // One statement per table for any number of devices (/delete_devices may name a thousand).
            string requested = SqlJsonRows.Json(deviceIds.Select(d => d.Value).Distinct(StringComparer.Ordinal));
            string and = $" AND device_id IN (SELECT c0 FROM {SqlJsonRows.Table(c, "@devices", 1)} w)";
            var removed = await DeleteTokensAsync(c, t, "user_id = @user" + and,
                cmd => cmd.With("@user", userId.Value).With("@devices", requested), ct).ConfigureAwait(false);
            var devices = await DeleteDeviceRowsAsync(c, t, userId, and, cmd => cmd.With("@devices", requested),
                deviceListStreamId, ct).ConfigureAwait(false);

            // In the order asked for, as when they were deleted one by one.
            var order = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var deviceId in deviceIds)
            {
                order.TryAdd(deviceId.Value, order.Count);
            }

            return new DeviceRemoval(removed, [.. devices.OrderBy(d => order[d.Value])]);
        }, cancellationToken);
    }

    public Task<DeviceRemoval> DeleteOtherDevicesAndTokensAsync(UserId userId, DeviceId? keepDevice, long? keepTokenId,
        long deviceListStreamId, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            var removed = await DeleteTokensAsync(c, t, "user_id = @user AND id <> @keep",
                cmd => cmd.With("@user", userId.Value).With("@keep", keepTokenId ?? -1), ct).ConfigureAwait(false);
            var devices = await DeleteDeviceRowsAsync(c, t, userId, " AND device_id <> @keep",
                cmd => cmd.With("@keep", keepDevice?.Value ?? ""), deviceListStreamId, ct).ConfigureAwait(false);
            return new DeviceRemoval(removed, devices);
        }, cancellationToken);

    public Task<UserProfile?> GetProfileAsync(UserId userId, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("SELECT displayname, avatar_url FROM profiles WHERE user_id = @id")
                .With("@id", userId.Value);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false)
                ? new UserProfile(reader.GetNullableString(0), reader.GetNullableString(1))
                : null;
        }, cancellationToken);

    public Task<bool> SetProfileFieldAsync(UserId userId, string field, string? value, CancellationToken cancellationToken)
    {
        // The column name comes from this fixed set, never from input.
        string column = field switch
        {
            "displayname" => "displayname",
            "avatar_url" => "avatar_url",
            _ => throw new ArgumentException($"Unknown profile field {field}.", nameof(field)),
        };
        return _db.WriteAsync(async (c, t, ct) =>
        {
            await using var update = c.Command($"UPDATE profiles SET {column} = @value WHERE user_id = @id", t)
                .With("@value", value).With("@id", userId.Value);
            return await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) > 0;
        }, cancellationToken);
    }

    public Task RecordDeviceActivityAsync(IReadOnlyCollection<DeviceActivity> activity,
        CancellationToken cancellationToken)
    {
        if (activity.Count == 0)
        {
            return Task.CompletedTask;
        }

        return _db.WriteAsync(async (c, t, ct) =>
        {
            await using var update = c.Command("""
                UPDATE devices SET last_seen_ip = @ip, last_seen_user_agent = @ua, last_seen_ts = @ts
                WHERE user_id = @user AND device_id = @device AND (last_seen_ts IS NULL OR last_seen_ts < @ts)
                """, t);
            var ip = update.CreateParameter();
            ip.ParameterName = "@ip";
            var ua = update.CreateParameter();
            ua.ParameterName = "@ua";
            var ts = update.CreateParameter();
            ts.ParameterName = "@ts";
            var user = update.CreateParameter();
            user.ParameterName = "@user";
            var device = update.CreateParameter();
            device.ParameterName = "@device";
            update.Parameters.AddRange(new[] { ip, ua, ts, user, device });
            foreach (var a in activity)
            {
                ip.Value = (object?)a.Ip ?? DBNull.Value;
                ua.Value = (object?)a.UserAgent ?? DBNull.Value;
                ts.Value = a.Ts;
                user.Value = a.UserId.Value;
                device.Value = a.DeviceId.Value;
                await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return 0;
        }, cancellationToken);
    }

    private static readonly string[] DeviceOwnedTables = ["device_inbox", "e2e_device_keys", "e2e_one_time_keys", "e2e_fallback_keys"];

    private const string DeviceColumns =
        "SELECT device_id, display_name, last_seen_ip, last_seen_ts, last_seen_user_agent FROM devices";

    private static Device ReadDevice(DbDataReader reader) =>
        new(DeviceId.Parse(reader.GetString(0)), reader.GetNullableString(1), reader.GetNullableString(2),
            reader.GetNullableInt64(3), reader.GetNullableString(4));

    /// <summary>
    /// Deletes the user's devices matching <paramref name="and"/> (an extra condition, or empty for all) with their to-device
    /// inboxes and end-to-end keys, and records the removed devices in the device-lists stream.
    /// </summary>
    private static async Task<IReadOnlyList<DeviceId>> DeleteDeviceRowsAsync(DbConnection c, DbTransaction t, UserId userId,
        string and, Action<DbCommand> bind, long deviceListStreamId, CancellationToken ct)
    {
        var devices = new List<DeviceId>();
        await using (var delete = c.Command("DELETE FROM devices WHERE user_id = @user" + and + " RETURNING device_id", t)
            .With("@user", userId.Value))
        {
            bind(delete);
            await using var reader = await delete.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                devices.Add(DeviceId.Parse(reader.GetString(0)));
            }
        }

        // A deleted device's inbox and end-to-end keys go with it: nobody may claim keys of a device that is gone, and a device
        // created again under the same ID starts without them.
        foreach (string table in DeviceOwnedTables)
        {
            await using var owned = c.Command("DELETE FROM " + table + " WHERE user_id = @user" + and, t).With("@user", userId.Value);
            bind(owned);
            await owned.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await CrossSigningStore.DeleteDeviceSignaturesAsync(c, t, userId.Value, [.. devices.Select(d => d.Value)], ct)
            .ConfigureAwait(false);
        await DeviceListStore.InsertRowsAsync(c, t, deviceListStreamId, userId.Value, [.. devices.Select(d => d.Value)], ct)
            .ConfigureAwait(false);
        return devices;
    }

    private static async Task<IReadOnlyList<string>> DeleteTokensAsync(DbConnection c, DbTransaction t, string where,
        Action<DbCommand> bind, CancellationToken ct)
    {
        await using var delete = c.Command("DELETE FROM access_tokens WHERE " + where + " RETURNING token_hash", t);
        bind(delete);
        await using var reader = await delete.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var hashes = new List<string>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            hashes.Add(reader.GetString(0));
        }

        return hashes;
    }
}
