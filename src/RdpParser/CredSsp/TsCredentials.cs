using System.Diagnostics.CodeAnalysis;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Text;

namespace RdpWire.RdpParser.CredSsp;

/// <summary>MS-CSSP 2.2.1.2 TSCredentials.credType.</summary>
public enum TsCredentialType
{
    /// <summary>credentials holds a TSPasswordCreds (2.2.1.2.1).</summary>
    Password = 1,
    /// <summary>credentials holds a TSSmartCardCreds (2.2.1.2.2).</summary>
    SmartCard = 2,
    /// <summary>credentials holds a TSRemoteGuardCreds (2.2.1.2.3).</summary>
    RemoteGuard = 6,
}

/// <summary>
/// MS-CSSP 2.2.1.2.1 TSPasswordCreds { domainName [0], userName [1], password [2] }, all
/// UTF-16LE OCTET STRINGs. The password is never kept: only its length in UTF-16 code units.
/// All three empty is what a Restricted Admin / Remote Credential Guard client sends.
/// </summary>
public sealed record TsPasswordCreds(string DomainName, string UserName, int PasswordLength)
{
    public bool AllFieldsEmpty => DomainName.Length == 0 && UserName.Length == 0 && PasswordLength == 0;

    /// <summary>"DOMAIN\user" (or "user" without a domain).</summary>
    public string Account => DomainName.Length == 0 ? UserName : $"{DomainName}\\{UserName}";

    /// <summary>Parses a DER TSPasswordCreds; the private copy holding the password is zeroed before returning.</summary>
    public static bool TryParse(ReadOnlySpan<byte> der, [NotNullWhen(true)] out TsPasswordCreds? creds, out string? error) =>
        TsCredentials.TryParseSecret(der, ParseBody, out creds, out error);

    internal static TsPasswordCreds ParseBody(ReadOnlyMemory<byte> encoded, AsnEncodingRules rules)
    {
        var seq = new AsnReader(encoded, rules).ReadSequence();
        string domain = TsCredentials.ReadUnicodeField(seq, 0, "domainName");
        string user = TsCredentials.ReadUnicodeField(seq, 1, "userName");
        var passwordField = seq.ReadSequence(Asn1Bytes.Explicit(2));
        int passwordLength = TsCredentials.ReadSecretLength(passwordField, "password");
        passwordField.ThrowIfNotEmpty();
        seq.ThrowIfNotEmpty();
        return new TsPasswordCreds(domain, user, passwordLength / 2);
    }
}

/// <summary>
/// MS-CSSP 2.2.1.2.2 TSSmartCardCreds { pin [0], cspData [1] TSCspDataDetail, userHint [2] OPTIONAL,
/// domainHint [3] OPTIONAL }. The PIN is never kept, only its length in UTF-16 code units;
/// cspData (2.2.1.2.2.1) is reduced to its card and reader names.
/// </summary>
public sealed record TsSmartCardCreds(int PinLength, int KeySpec, string? CardName, string? ReaderName, string? UserHint, string? DomainHint);

/// <summary>
/// MS-CSSP 2.2.1.2.3 TSRemoteGuardCreds { logonCred [0] TSRemoteGuardPackageCred,
/// supplementalCreds [1] SEQUENCE OF TSRemoteGuardPackageCred OPTIONAL }, reduced to the package
/// names (2.2.1.2.3.1 packageName) and the logon credential's size.
/// </summary>
public sealed record TsRemoteGuardCreds(string LogonPackageName, int LogonCredBufferLength, IReadOnlyList<string> SupplementalPackageNames);

/// <summary>
/// MS-CSSP 2.2.1.2 TSCredentials ::= SEQUENCE { credType [0] INTEGER, credentials [1] OCTET STRING },
/// the decrypted contents of TSRequest.authInfo. Secrets (password, PIN, credential buffers) are
/// measured, never kept, and the parser's private copy of the bytes is zeroed before it returns;
/// the caller still owns (and should clear) its own buffer.
/// </summary>
public sealed class TsCredentials
{
    public const int MaxLength = TsRequest.MaxLength;
    /// <summary>At most this many supplemental Remote Guard credentials are named.</summary>
    public const int MaxSupplementalCreds = 16;

    public required TsCredentialType CredType { get; init; }
    /// <summary>Length of the credentials OCTET STRING.</summary>
    public int CredentialsLength { get; init; }
    public TsPasswordCreds? Password { get; init; }
    public TsSmartCardCreds? SmartCard { get; init; }
    public TsRemoteGuardCreds? RemoteGuard { get; init; }

    /// <summary>One line for a report, without secrets.</summary>
    public string Describe() => CredType switch
    {
        TsCredentialType.Password when Password is { AllFieldsEmpty: true } =>
            "TSCredentials: empty password credentials (Restricted Admin or Remote Credential Guard)",
        TsCredentialType.Password when Password is { } p =>
            $"TSCredentials: password for {p.Account} ({p.PasswordLength}-character password)",
        TsCredentialType.SmartCard when SmartCard is { } s =>
            $"TSCredentials: smart card{(s.UserHint is null ? "" : $" for {s.UserHint}")}{(s.ReaderName is null ? "" : $" in reader {s.ReaderName}")}",
        TsCredentialType.RemoteGuard when RemoteGuard is { } r =>
            $"TSCredentials: Remote Credential Guard ({r.LogonPackageName} logon credential)",
        _ => $"TSCredentials: credType {(int)CredType} ({CredentialsLength} bytes)",
    };

    /// <summary>Parses decrypted authInfo. Unknown credTypes parse with only the type and length.</summary>
    public static bool TryParse(ReadOnlySpan<byte> der, [NotNullWhen(true)] out TsCredentials? credentials, out string? error) =>
        TryParseSecret(der, Parse, out credentials, out error);

    private static TsCredentials Parse(ReadOnlyMemory<byte> encoded, AsnEncodingRules rules)
    {
        var seq = new AsnReader(encoded, rules).ReadSequence();
        var typeField = seq.ReadSequence(Asn1Bytes.Explicit(0));
        long type = Asn1Bytes.ReadInteger(typeField, "credType");
        typeField.ThrowIfNotEmpty();
        var credField = seq.ReadSequence(Asn1Bytes.Explicit(1));
        var inner = Asn1Bytes.ReadOctets(credField, MaxLength, "credentials");
        credField.ThrowIfNotEmpty();
        seq.ThrowIfNotEmpty();
        if (type is < int.MinValue or > int.MaxValue)
        {
            throw new AsnContentException($"credType {type} is out of range");
        }
        var credType = (TsCredentialType)(int)type;
        // The inner structure is DER like the outer one (2.2.1.2), so it is read with the same rules.
        return new TsCredentials
        {
            CredType = credType,
            CredentialsLength = inner.Length,
            Password = credType == TsCredentialType.Password ? TsPasswordCreds.ParseBody(inner, rules) : null,
            SmartCard = credType == TsCredentialType.SmartCard ? ParseSmartCard(inner, rules) : null,
            RemoteGuard = credType == TsCredentialType.RemoteGuard ? ParseRemoteGuard(inner, rules) : null,
        };
    }

    private static TsSmartCardCreds ParseSmartCard(ReadOnlyMemory<byte> encoded, AsnEncodingRules rules)
    {
        var seq = new AsnReader(encoded, rules).ReadSequence();
        var pinField = seq.ReadSequence(Asn1Bytes.Explicit(0));
        int pinLength = ReadSecretLength(pinField, "pin") / 2;
        pinField.ThrowIfNotEmpty();
        // 2.2.1.2.2.1 TSCspDataDetail { keySpec [0] INTEGER, cardName [1], readerName [2],
        // containerName [3], cspName [4] } (names OPTIONAL, UTF-16LE).
        var cspField = seq.ReadSequence(Asn1Bytes.Explicit(1));
        var csp = cspField.ReadSequence();
        cspField.ThrowIfNotEmpty();
        var keySpecField = csp.ReadSequence(Asn1Bytes.Explicit(0));
        long keySpec = Asn1Bytes.ReadInteger(keySpecField, "keySpec");
        keySpecField.ThrowIfNotEmpty();
        string? cardName = ReadOptionalUnicodeField(csp, 1, "cardName");
        string? readerName = ReadOptionalUnicodeField(csp, 2, "readerName");
        ReadOptionalUnicodeField(csp, 3, "containerName");
        ReadOptionalUnicodeField(csp, 4, "cspName");
        csp.ThrowIfNotEmpty();
        string? userHint = ReadOptionalUnicodeField(seq, 2, "userHint");
        string? domainHint = ReadOptionalUnicodeField(seq, 3, "domainHint");
        seq.ThrowIfNotEmpty();
        return new TsSmartCardCreds(pinLength, (int)Math.Clamp(keySpec, int.MinValue, int.MaxValue),
            cardName, readerName, userHint, domainHint);
    }

    private static TsRemoteGuardCreds ParseRemoteGuard(ReadOnlyMemory<byte> encoded, AsnEncodingRules rules)
    {
        var seq = new AsnReader(encoded, rules).ReadSequence();
        var logonField = seq.ReadSequence(Asn1Bytes.Explicit(0));
        var (logonPackage, logonLength) = ReadPackageCred(logonField.ReadSequence());
        logonField.ThrowIfNotEmpty();
        var supplemental = new List<string>();
        if (seq.HasData && seq.PeekTag().HasSameClassAndValue(Asn1Bytes.Explicit(1)))
        {
            var supField = seq.ReadSequence(Asn1Bytes.Explicit(1));
            var list = supField.ReadSequence();
            while (list.HasData)
            {
                if (supplemental.Count == MaxSupplementalCreds)
                {
                    throw new AsnContentException($"supplementalCreds has more than {MaxSupplementalCreds} entries");
                }
                supplemental.Add(ReadPackageCred(list.ReadSequence()).Package);
            }
            supField.ThrowIfNotEmpty();
        }
        seq.ThrowIfNotEmpty();
        return new TsRemoteGuardCreds(logonPackage, logonLength, supplemental);
    }

    /// <summary>2.2.1.2.3.1 TSRemoteGuardPackageCred { packageName [0], credBuffer [1] }.</summary>
    private static (string Package, int CredBufferLength) ReadPackageCred(AsnReader cred)
    {
        string package = ReadUnicodeField(cred, 0, "packageName");
        var bufferField = cred.ReadSequence(Asn1Bytes.Explicit(1));
        int length = ReadSecretLength(bufferField, "credBuffer");
        bufferField.ThrowIfNotEmpty();
        cred.ThrowIfNotEmpty();
        return (package, length);
    }

    internal static string ReadUnicodeField(AsnReader seq, int tag, string name)
    {
        var field = seq.ReadSequence(Asn1Bytes.Explicit(tag));
        var bytes = Asn1Bytes.ReadOctets(field, MaxLength, name);
        field.ThrowIfNotEmpty();
        return Encoding.Unicode.GetString(bytes.Span);
    }

    private static string? ReadOptionalUnicodeField(AsnReader seq, int tag, string name) =>
        seq.HasData && seq.PeekTag().HasSameClassAndValue(Asn1Bytes.Explicit(tag)) ? ReadUnicodeField(seq, tag, name) : null;

    /// <summary>The length of a secret OCTET STRING; a BER-constructed copy is zeroed at once.</summary>
    internal static int ReadSecretLength(AsnReader reader, string name)
    {
        if (reader.TryReadPrimitiveOctetString(out var primitive))
        {
            return primitive.Length;
        }
        byte[] copy = reader.ReadOctetString();
        CryptographicOperations.ZeroMemory(copy);
        if (copy.Length > MaxLength)
        {
            throw new AsnContentException($"{name} is longer than {MaxLength} bytes");
        }
        return copy.Length;
    }

    /// <summary>DER-then-BER parse of a structure holding secrets, zeroing the private copy afterwards.</summary>
    internal static bool TryParseSecret<T>(ReadOnlySpan<byte> der, Func<ReadOnlyMemory<byte>, AsnEncodingRules, T> parse,
        [NotNullWhen(true)] out T? value, out string? error) where T : class
    {
        value = null;
        if (der.IsEmpty)
        {
            error = "no bytes";
            return false;
        }
        if (der.Length > MaxLength)
        {
            error = $"{der.Length} bytes is above the {MaxLength}-byte limit";
            return false;
        }
        byte[] copy = der.ToArray();
        try
        {
            return Asn1Bytes.TryParseDerThenBer(copy, parse, out value, out error);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(copy);
        }
    }
}
