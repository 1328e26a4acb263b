using System.Text;
using Synapse.Configuration;

namespace Synapse.Accounts;

/// <summary>
/// bcrypt with the configured pepper, compatible with hashes written by Synapse
/// (NFKC-normalised password + pepper, <c>$2b$</c> hashes), so user tables can be migrated.
/// </summary>
internal sealed class PasswordHasher
{
    private readonly PasswordOptions _options;

    public PasswordHasher(HomeserverOptions options) => _options = options.Password;

    /// <summary>Hashes on the thread pool: bcrypt is deliberately slow.</summary>
    public Task<string> HashAsync(string password) =>
        Task.Run(() => BCrypt.Net.BCrypt.HashPassword(Prepare(password), _options.BcryptRounds));

    public Task<bool> VerifyAsync(string password, string? hash)
    {
        if (string.IsNullOrEmpty(hash))
        {
            return Task.FromResult(false);
        }

        return Task.Run(() =>
        {
            try
            {
                return BCrypt.Net.BCrypt.Verify(Prepare(password), hash);
            }
            catch (BCrypt.Net.SaltParseException)
            {
                return false;
            }
        });
    }

    private string Prepare(string password) => password.Normalize(NormalizationForm.FormKC) + _options.Pepper;
}
