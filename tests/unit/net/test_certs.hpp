#pragma once

// Test certificates made with the OpenSSL API: a CA and server certificates it signs, written as
// PEM files into a directory. For the TLS tests of the net clients.

#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace orb::net::test_pki {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

inline void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("OpenSSL: ") + what);
}

inline PkeyPtr MakeKey() {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  Check(ctx != nullptr, "EVP_PKEY_CTX_new_from_name");
  EVP_PKEY* key = nullptr;
  const bool ok = EVP_PKEY_keygen_init(ctx) == 1 &&
                  EVP_PKEY_CTX_set_group_name(ctx, "prime256v1") == 1 &&
                  EVP_PKEY_generate(ctx, &key) == 1;
  EVP_PKEY_CTX_free(ctx);
  Check(ok, "EC key generation");
  return PkeyPtr(key);
}

inline void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  Check(extension != nullptr, "X509V3_EXT_conf_nid");
  Check(X509_add_ext(cert, extension, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(extension);
}

// A certificate for `subject_cn`, signed by (issuer, issuer_key), or self-signed when issuer is
// null. `san` like "IP:127.0.0.1,DNS:localhost"; empty for a CA.
inline X509Ptr MakeCert(EVP_PKEY* key, const std::string& subject_cn, X509* issuer,
                        EVP_PKEY* issuer_key, const std::string& san, long serial) {
  X509Ptr cert(X509_new());
  Check(cert != nullptr, "X509_new");
  X509* x = cert.get();
  Check(X509_set_version(x, 2) == 1, "X509_set_version");
  Check(ASN1_INTEGER_set(X509_get_serialNumber(x), serial) == 1, "serial");
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24L * 3600);
  Check(X509_set_pubkey(x, key) == 1, "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(x);
  Check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(subject_cn.c_str()), -1,
                                   -1, 0) == 1,
        "subject");
  X509* signer = issuer != nullptr ? issuer : x;
  Check(X509_set_issuer_name(x, X509_get_subject_name(signer)) == 1, "issuer");
  if (issuer == nullptr) {
    AddExtension(x, signer, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(x, signer, NID_basic_constraints, "critical,CA:FALSE");
    AddExtension(x, signer, NID_ext_key_usage, "serverAuth");
    AddExtension(x, signer, NID_subject_alt_name, san.c_str());
  }
  AddExtension(x, signer, NID_subject_key_identifier, "hash");
  Check(X509_sign(x, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

inline void WritePem(const std::filesystem::path& path, X509* cert, EVP_PKEY* key) {
  FILE* file = std::fopen(path.c_str(), "w");
  Check(file != nullptr, "fopen");
  bool ok = true;
  if (cert != nullptr) ok = PEM_write_X509(file, cert) == 1;
  if (ok && key != nullptr) {
    ok = PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  }
  std::fclose(file);
  Check(ok, "PEM write");
}

// A CA; IssueServer writes a certificate and key it signed.
class TestCa {
 public:
  TestCa(std::filesystem::path dir, const std::string& name)
      : dir_(std::move(dir)),
        name_(name),
        key_(MakeKey()),
        cert_(MakeCert(key_.get(), name + " Test CA", nullptr, nullptr, "", 1)) {
    WritePem(ca_file(), cert_.get(), nullptr);
  }

  std::filesystem::path ca_file() const { return dir_ / (name_ + "-ca.pem"); }

  struct Issued {
    std::filesystem::path cert_file;
    std::filesystem::path key_file;
  };

  // `san` like "IP:127.0.0.1,DNS:localhost".
  Issued IssueServer(const std::string& label, const std::string& san) {
    auto key = MakeKey();
    auto cert = MakeCert(key.get(), label, cert_.get(), key_.get(), san, ++serial_);
    Issued issued{dir_ / (name_ + "-" + label + "-cert.pem"),
                  dir_ / (name_ + "-" + label + "-key.pem")};
    WritePem(issued.cert_file, cert.get(), nullptr);
    WritePem(issued.key_file, nullptr, key.get());
    return issued;
  }

 private:
  std::filesystem::path dir_;
  std::string name_;
  PkeyPtr key_;
  X509Ptr cert_;
  long serial_ = 1;
};

}  // namespace orb::net::test_pki
