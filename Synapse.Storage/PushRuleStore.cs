using System.Data.Common;

namespace Synapse.Storage;

/// <summary><see cref="IPushRuleStore"/> over both engines.</summary>
internal sealed class PushRuleStore : IPushRuleStore
{
    private readonly SynapseDatabase _db;

    public PushRuleStore(SynapseDatabase db) => _db = db;

    public Task<StoredPushRules> GetForUserAsync(string userId, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            var rules = new List<StoredPushRule>();
            await using (var query = c.Command("""
                SELECT kind, rule_id, conditions, pattern, actions, enabled FROM push_rules
                WHERE user_id = @user ORDER BY kind, rule_order
                """).With("@user", userId))
            {
                await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    rules.Add(new StoredPushRule(reader.GetString(0), reader.GetString(1), reader.GetNullableString(2),
                        reader.GetNullableString(3), reader.GetString(4), reader.GetBoolean(5)));
                }
            }

            var defaults = new List<PushRuleDefaultOverride>();
            await using (var query = c.Command("SELECT rule_id, enabled, actions FROM push_rules_defaults WHERE user_id = @user")
                .With("@user", userId))
            {
                await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    defaults.Add(new PushRuleDefaultOverride(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetBoolean(1),
                        reader.GetNullableString(2)));
                }
            }

            return new StoredPushRules(rules, defaults);
        }, cancellationToken);

    public Task PutRuleAsync(string userId, StoredPushRule rule, IReadOnlyList<string> kindOrder, long streamId,
        CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            // A replaced rule keeps its enabled state: PUT carries no "enabled", and /enabled is a separate resource.
            await using (var upsert = c.Command("""
                INSERT INTO push_rules (user_id, kind, rule_id, rule_order, conditions, pattern, actions, enabled)
                VALUES (@user, @kind, @rule, 0, @conditions, @pattern, @actions, @enabled)
                ON CONFLICT (user_id, kind, rule_id) DO UPDATE
                SET conditions = excluded.conditions, pattern = excluded.pattern, actions = excluded.actions
                """, t)
                .With("@user", userId).With("@kind", rule.Kind).With("@rule", rule.RuleId).With("@conditions", rule.Conditions)
                .With("@pattern", rule.Pattern).With("@actions", rule.Actions).With("@enabled", rule.Enabled))
            {
                await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            for (int i = 0; i < kindOrder.Count; i++)
            {
                await using var order = c.Command(
                    "UPDATE push_rules SET rule_order = @order WHERE user_id = @user AND kind = @kind AND rule_id = @rule", t)
                    .With("@order", (long)i).With("@user", userId).With("@kind", rule.Kind).With("@rule", kindOrder[i]);
                await order.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await AdvanceAsync(c, t, userId, streamId, ct).ConfigureAwait(false);
            return 0;
        }, cancellationToken);

    public Task<bool> DeleteRuleAsync(string userId, string kind, string ruleId, long streamId, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var delete = c.Command("DELETE FROM push_rules WHERE user_id = @user AND kind = @kind AND rule_id = @rule", t)
                .With("@user", userId).With("@kind", kind).With("@rule", ruleId);
            if (await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
            {
                return false;
            }

            await AdvanceAsync(c, t, userId, streamId, ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    public Task<bool> UpdateRuleAsync(string userId, string kind, string ruleId, bool? enabled, string? actions, long streamId,
        CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            // Only the columns being changed appear in the SQL: a NULL parameter has no type PostgreSQL could infer.
            await using var update = c.Command($"""
                UPDATE push_rules SET {SetList(enabled, actions)}
                WHERE user_id = @user AND kind = @kind AND rule_id = @rule
                """, t).With("@user", userId).With("@kind", kind).With("@rule", ruleId);
            AddValues(update, enabled, actions);
            if (await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
            {
                return false;
            }

            await AdvanceAsync(c, t, userId, streamId, ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    public Task SetDefaultOverrideAsync(string userId, string ruleId, bool? enabled, string? actions, long streamId,
        CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            string columns = (enabled is null ? "" : ", enabled") + (actions is null ? "" : ", actions");
            string values = (enabled is null ? "" : ", @enabled") + (actions is null ? "" : ", @actions");
            await using var upsert = c.Command($"""
                INSERT INTO push_rules_defaults (user_id, rule_id{columns}) VALUES (@user, @rule{values})
                ON CONFLICT (user_id, rule_id) DO UPDATE SET {SetList(enabled, actions)}
                """, t).With("@user", userId).With("@rule", ruleId);
            AddValues(upsert, enabled, actions);
            await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await AdvanceAsync(c, t, userId, streamId, ct).ConfigureAwait(false);
            return 0;
        }, cancellationToken);

    public Task<long> GetLastChangeAsync(string userId, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("SELECT stream_id FROM push_rules_stream WHERE user_id = @user").With("@user", userId);
            return await query.ExecuteScalarAsync(ct).ConfigureAwait(false) is { } value and not DBNull
                ? Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture)
                : 0L;
        }, cancellationToken);

    public Task<IReadOnlyList<PushRulesChange>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<PushRulesChange>>(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT user_id, stream_id FROM push_rules_stream
                WHERE stream_id > @after AND stream_id <= @upTo
                ORDER BY stream_id
                LIMIT @limit
                """).With("@after", after).With("@upTo", upTo).With("@limit", limit);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var changes = new List<PushRulesChange>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                changes.Add(new PushRulesChange(reader.GetString(0), reader.GetInt64(1)));
            }

            return changes;
        }, cancellationToken);

    private static string SetList(bool? enabled, string? actions)
    {
        if (enabled is null && actions is null)
        {
            throw new ArgumentException("Nothing to change.", nameof(enabled));
        }

        return enabled is null ? "actions = @actions" : actions is null ? "enabled = @enabled" : "enabled = @enabled, actions = @actions";
    }

    private static void AddValues(DbCommand command, bool? enabled, string? actions)
    {
        if (enabled is { } value)
        {
            command.With("@enabled", value);
        }

        if (actions is not null)
        {
            command.With("@actions", actions);
        }
    }

    /// <summary>Moves the user's stream position forward (never back: positions may commit out of order).</summary>
    private static async Task AdvanceAsync(DbConnection connection, DbTransaction transaction, string userId, long streamId,
        CancellationToken cancellationToken)
    {
        await using var upsert = connection.Command("""
            INSERT INTO push_rules_stream (user_id, stream_id) VALUES (@user, @stream)
            ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id
            WHERE push_rules_stream.stream_id < excluded.stream_id
            """, transaction).With("@user", userId).With("@stream", streamId);
        await upsert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
