using Synapse.Identifiers;

namespace Synapse.Accounts;

/// <summary>The authenticated user and device behind a request.</summary>
/// <param name="UserId">The user.</param>
/// <param name="DeviceId">The device the access token belongs to.</param>
/// <param name="TokenId">The access token's row, so that "every token but this one" can be expressed.</param>
/// <param name="IsGuest">Whether the user is a guest.</param>
public sealed record Requester(UserId UserId, DeviceId DeviceId, long TokenId, bool IsGuest);
