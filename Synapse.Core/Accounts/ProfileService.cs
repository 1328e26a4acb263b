using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Synapse.Configuration;
using Synapse.Events;
using Synapse.Identifiers;
using Synapse.Rooms;
using Synapse.Storage;

namespace Synapse.Accounts;

/// <summary>
/// Profiles (display name and avatar URL) and their propagation into the rooms the user is joined to.
/// </summary>
/// <remarks>Spec: Client-Server API, "Profiles" and "Events on Change of Profile Information".</remarks>
internal sealed partial class ProfileService
{
    /// <summary>The display name field (profile key and <c>m.room.member</c> content key).</summary>
    public const string DisplayName = "displayname";

    /// <summary>The avatar URL field (profile key and <c>m.room.member</c> content key).</summary>
    public const string AvatarUrl = "avatar_url";

    /// <summary>
    /// The longest display name accepted, in characters. The spec leaves the limit to servers; 256 is the
    /// limit Synapse applies, so names that work there work here.
    /// </summary>
    public const int MaxDisplayNameLength = 256;

    /// <summary>The longest avatar URL accepted, in characters (also Synapse's limit).</summary>
    public const int MaxAvatarUrlLength = 1000;

    private readonly HomeserverOptions _options;
    private readonly IAccountStore _accounts;
    private readonly IEventStore _events;
    private readonly IRoomEventWriter _writer;
    private readonly ILogger<ProfileService> _logger;

    public ProfileService(HomeserverOptions options, IAccountStore accounts, IEventStore events, IRoomEventWriter writer,
        ILogger<ProfileService> logger)
    {
        _options = options;
        _accounts = accounts;
        _events = events;
        _writer = writer;
        _logger = logger;
    }

    /// <summary>
    /// GET /profile/{userId}: the profile of a local user. 404 <c>M_NOT_FOUND</c> for an unknown user and for
    /// remote users, whose profiles need federation, which this server does not speak yet (the spec allows 404
    /// or 403 for users it cannot show; 404 reads as "no profile", which clients handle gracefully).
    /// </summary>
    public async Task<UserProfile> GetProfileAsync(string userId, CancellationToken cancellationToken)
    {
        var user = ParseUserId(userId);
        if (user.ServerName != _options.ServerName)
        {
            throw MatrixException.NotFound($"Profile of {user} unavailable: federation is not available on this server yet");
        }

        // Every local user has a profile row (created at registration), so a missing row is an unknown user.
        return await _accounts.GetProfileAsync(user, cancellationToken).ConfigureAwait(false)
            ?? throw MatrixException.NotFound("Profile not found");
    }

    /// <summary>GET /profile/{userId}/{field}: 404 <c>M_NOT_FOUND</c> also when the user has not set the field.</summary>
    public async Task<string> GetFieldAsync(string userId, string field, CancellationToken cancellationToken)
    {
        var profile = await GetProfileAsync(userId, cancellationToken).ConfigureAwait(false);
        return (field == DisplayName ? profile.DisplayName : profile.AvatarUrl)
            ?? throw MatrixException.NotFound($"The user has no {field}");
    }

    /// <summary>
    /// PUT /profile/{userId}/{field}: sets (or, with an empty string, removes) the requester's own display name
    /// or avatar URL, then sends an updated <c>m.room.member</c> join event to every room they are joined to.
    /// </summary>
    public async Task SetFieldAsync(Requester requester, string userId, string field, JsonElement body,
        CancellationToken cancellationToken)
    {
        var user = ParseUserId(userId);
        if (user != requester.UserId)
        {
            throw MatrixException.Forbidden($"You may only change your own {field}");
        }

        string? value = ReadValue(body, field);
        if (!await _accounts.SetProfileFieldAsync(user, field, value, cancellationToken).ConfigureAwait(false))
        {
            throw MatrixException.NotFound("Profile not found");
        }

        await PropagateAsync(user, field, value, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads and validates the new value: a string (the empty string removes the field), at most
    /// <see cref="MaxDisplayNameLength"/> / <see cref="MaxAvatarUrlLength"/> characters; an avatar URL must be
    /// an <c>mxc://</c> URI.
    /// </summary>
    private static string? ReadValue(JsonElement body, string field)
    {
        if (!body.TryGetProperty(field, out var element))
        {
            throw MatrixException.MissingParam(field);
        }

        // Spec v1.16 lets servers reject null ("Servers MAY reject null values"); we cannot store a null distinct
        // from "unset", so we do, and point at the empty string, which clients use to remove the field.
        if (element.ValueKind != JsonValueKind.String)
        {
            throw MatrixException.BadJson($"'{field}' must be a string (send \"\" to remove it)");
        }

        string value = element.GetString()!;
        if (value.Length == 0)
        {
            return null;
        }

        if (field == DisplayName)
        {
            return value.Length <= MaxDisplayNameLength
                ? value
                : throw MatrixException.InvalidParam($"'displayname' is too long (at most {MaxDisplayNameLength} characters)");
        }

        if (value.Length > MaxAvatarUrlLength)
        {
            throw MatrixException.InvalidParam($"'avatar_url' is too long (at most {MaxAvatarUrlLength} characters)");
        }

        return IsMxcUri(value) ? value : throw MatrixException.InvalidParam("'avatar_url' must be an mxc:// URI");
    }

    /// <summary>
    /// Spec: Client-Server API, "Matrix Content (mxc://) URIs": <c>mxc://server-name/media-id</c>, the media ID
    /// only <c>A-Za-z0-9_-</c>.
    /// </summary>
    internal static bool IsMxcUri(string value)
    {
        const string scheme = "mxc://";
        if (!value.StartsWith(scheme, StringComparison.Ordinal))
        {
            return false;
        }

        int slash = value.IndexOf('/', scheme.Length);
        if (slash < 0 || slash == value.Length - 1 || !ServerName.TryParse(value[scheme.Length..slash], out _))
        {
            return false;
        }

        foreach (char c in value.AsSpan(slash + 1))
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Sends a join event carrying the new value to every room the user is joined to: one write per room, so
    /// that a room refusing the event (e.g. the user was banned meanwhile) does not stop the others.
    /// </summary>
    private async Task PropagateAsync(UserId user, string field, string? value, CancellationToken cancellationToken)
    {
        var rooms = await _events.GetRoomsForUserAsync(user.Value, ["join"], cancellationToken).ConfigureAwait(false);
        foreach (string roomId in rooms)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                var content = await UpdatedMemberContentAsync(roomId, user, field, value, cancellationToken).ConfigureAwait(false);
                if (content is not null)
                {
                    await _writer.WriteAsync([new EventDraft(roomId, "m.room.member", user.Value, user.Value, content)], cancellationToken)
                        .ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Log.PropagationFailed(_logger, user.Value, roomId, e);
            }
        }
    }

    /// <summary>
    /// The user's current join content with <paramref name="field"/> replaced, or null when the room already
    /// shows that value (or the user is no longer joined). Other fields are kept, so a profile change does not
    /// drop what the client put in the join; <c>join_authorised_via_users_server</c> is not, because it only
    /// authorises a join into a restricted room and the user is joined already.
    /// </summary>
    private async Task<JsonObject?> UpdatedMemberContentAsync(string roomId, UserId user, string field, string? value,
        CancellationToken cancellationToken)
    {
        var state = await _events.GetCurrentStateIdsAsync(roomId, cancellationToken).ConfigureAwait(false);
        if (!state.TryGetValue(new TypeStateKey("m.room.member", user.Value), out string? eventId))
        {
            return null;
        }

        var member = await _events.GetEventsAsync([eventId], cancellationToken).ConfigureAwait(false);
        if (member.Count == 0 || member[0].Pdu.ContentString("membership") != "join")
        {
            return null;
        }

        var content = JsonNode.Parse(member[0].Pdu.Content.GetRawText())!.AsObject();
        string? current = content[field] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
        if (value is null ? !content.ContainsKey(field) : current == value)
        {
            return null;
        }

        content.Remove("join_authorised_via_users_server");
        if (value is null)
        {
            content.Remove(field);
        }
        else
        {
            content[field] = value;
        }

        return content;
    }

    private static UserId ParseUserId(string userId) =>
        UserId.TryParse(userId, out var user) ? user : throw MatrixException.InvalidParam($"Invalid user ID: {userId}");

    private static partial class Log
    {
        [LoggerMessage(EventId = 1201, Level = LogLevel.Warning,
            Message = "Could not update the membership of {UserId} in {RoomId} after a profile change")]
        public static partial void PropagationFailed(ILogger logger, string userId, string roomId, Exception exception);
    }
}
