using System.Net;

namespace Synapse;

/// <summary>
/// A failure that reaches the client as the spec's error JSON: an HTTP status, an <c>errcode</c>
/// and a human-readable <c>error</c>, plus any extra fields the errcode defines.
/// </summary>
/// <remarks>Spec: Client-Server API, "Standard error response".</remarks>
public class MatrixException : Exception
{
    /// <summary>Creates the error.</summary>
    public MatrixException(HttpStatusCode status, string errorCode, string message,
        IReadOnlyDictionary<string, object?>? extra = null)
        : base(message)
    {
        Status = status;
        ErrorCode = errorCode;
        Extra = extra;
    }

    /// <summary>The HTTP status of the response.</summary>
    public HttpStatusCode Status { get; }

    /// <summary>The <c>errcode</c>, e.g. <see cref="ErrorCodes.Forbidden"/>.</summary>
    public string ErrorCode { get; }

    /// <summary>Fields added to the error object beside <c>errcode</c> and <c>error</c>.</summary>
    public IReadOnlyDictionary<string, object?>? Extra { get; }

    /// <summary>400 <c>M_BAD_JSON</c>.</summary>
    public static MatrixException BadJson(string message) => new(HttpStatusCode.BadRequest, ErrorCodes.BadJson, message);

    /// <summary>400 <c>M_MISSING_PARAM</c>.</summary>
    public static MatrixException MissingParam(string name) =>
        new(HttpStatusCode.BadRequest, ErrorCodes.MissingParam, $"Missing parameter: {name}");

    /// <summary>400 <c>M_INVALID_PARAM</c>.</summary>
    public static MatrixException InvalidParam(string message) =>
        new(HttpStatusCode.BadRequest, ErrorCodes.InvalidParam, message);

    /// <summary>403 <c>M_FORBIDDEN</c>.</summary>
    public static MatrixException Forbidden(string message) => new(HttpStatusCode.Forbidden, ErrorCodes.Forbidden, message);

    /// <summary>404 <c>M_NOT_FOUND</c>.</summary>
    public static MatrixException NotFound(string message) => new(HttpStatusCode.NotFound, ErrorCodes.NotFound, message);

    /// <summary>429 <c>M_LIMIT_EXCEEDED</c> with <c>retry_after_ms</c>.</summary>
    public static MatrixException LimitExceeded(long retryAfterMs) =>
        new(HttpStatusCode.TooManyRequests, ErrorCodes.LimitExceeded, "Too many requests",
            new Dictionary<string, object?> { ["retry_after_ms"] = retryAfterMs });
}

/// <summary>The spec's <c>errcode</c> values used by this server.</summary>
public static class ErrorCodes
{
#pragma warning disable CS1591 // The names are the spec's codes.
    public const string Forbidden = "M_FORBIDDEN";
    public const string UnknownToken = "M_UNKNOWN_TOKEN";
    public const string MissingToken = "M_MISSING_TOKEN";
    public const string UserLocked = "M_USER_LOCKED";
    public const string BadJson = "M_BAD_JSON";
    public const string NotJson = "M_NOT_JSON";
    public const string NotFound = "M_NOT_FOUND";
    public const string LimitExceeded = "M_LIMIT_EXCEEDED";
    public const string Unrecognized = "M_UNRECOGNIZED";
    public const string Unknown = "M_UNKNOWN";
    public const string UserInUse = "M_USER_IN_USE";
    public const string InvalidUsername = "M_INVALID_USERNAME";
    public const string Exclusive = "M_EXCLUSIVE";
    public const string MissingParam = "M_MISSING_PARAM";
    public const string InvalidParam = "M_INVALID_PARAM";
    public const string TooLarge = "M_TOO_LARGE";
    public const string GuestAccessForbidden = "M_GUEST_ACCESS_FORBIDDEN";
    public const string UserDeactivated = "M_USER_DEACTIVATED";
    public const string WeakPassword = "M_WEAK_PASSWORD";
    public const string WrongRoomKeysVersion = "M_WRONG_ROOM_KEYS_VERSION";
    public const string InvalidSignature = "M_INVALID_SIGNATURE";
#pragma warning restore CS1591
}
