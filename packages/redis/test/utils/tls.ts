/**
 * Throwaway TLS material for tests: a CA, a server certificate for 127.0.0.1 / localhost and a client certificate,
 * all signed by that CA, made with `openssl` once per process and kept in memory only (the files openssl writes are
 * removed at once). `writeCertificates` puts them on disk for as long as a redis-server needs to read them. Plain Node
 * only (no vitest, no Effect), like `redisProcess.ts`.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** PEM texts. */
export interface TestCertificates {
  /** The CA certificate: what a client passes as `tls: { ca }` to trust the server. */
  readonly ca: string
  /** Subject CN=localhost, subjectAltName IP:127.0.0.1, DNS:localhost. */
  readonly serverCert: string
  readonly serverKey: string
  /** A client certificate (for `tls-auth-clients yes`). */
  readonly clientCert: string
  readonly clientKey: string
}

/** Where `writeCertificates` put the files. */
export interface CertificateFiles {
  readonly dir: string
  readonly caFile: string
  readonly certFile: string
  readonly keyFile: string
  /** Removes the directory. Idempotent. */
  remove(): void
}

const opensslTimeout = 10_000

// Our own configuration, so that the system's openssl.cnf (default extensions, policies) does not matter.
const opensslConfig = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = circuit-breaker test
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`

const openssl = (cwd: string, args: ReadonlyArray<string>): Promise<void> =>
  new Promise((resolve, reject) => {
    execFile("openssl", args, { cwd, timeout: opensslTimeout }, (error, _stdout, stderr) => {
      if (error === null) return resolve()
      const why = (error as NodeJS.ErrnoException).code === "ENOENT" ? "openssl not found on PATH" : stderr.trim()
      reject(new Error(`openssl ${args[0]} failed: ${why || error.message}`))
    })
  })

const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

/** Makes a fresh CA, server and client certificate (P-256 keys, valid for two days). */
export const generateCertificates = async (): Promise<TestCertificates> => {
  const dir = mkdtempSync(join(tmpdir(), "cb-redis-tls-gen-"))
  try {
    writeFileSync(join(dir, "openssl.cnf"), opensslConfig)
    const config = ["-config", "openssl.cnf"]
    await openssl(dir, [
      "req",
      "-x509",
      ...config,
      "-extensions",
      "ca_ext",
      ...newKey,
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "2",
      "-subj",
      "/CN=circuit-breaker test CA"
    ])
    const issue = async (name: string, subject: string, extensions: string, serial: string) => {
      await openssl(dir, [
        "req",
        "-new",
        ...config,
        ...newKey,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
        "-subj",
        subject
      ])
      await openssl(dir, [
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-set_serial",
        serial,
        "-days",
        "2",
        "-extfile",
        "openssl.cnf",
        "-extensions",
        extensions,
        "-out",
        `${name}.crt`
      ])
    }
    await Promise.all([
      issue("server", "/CN=localhost", "server_ext", "2"),
      issue("client", "/CN=circuit-breaker test client", "client_ext", "3")
    ])
    const read = (file: string) => readFileSync(join(dir, file), "utf8")
    return {
      ca: read("ca.crt"),
      serverCert: read("server.crt"),
      serverKey: read("server.key"),
      clientCert: read("client.crt"),
      clientKey: read("client.key")
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

let shared: Promise<TestCertificates> | undefined

/** The process's test certificates: generated on first use, then the same every time. */
export const testCertificates = (): Promise<TestCertificates> => {
  if (shared === undefined) {
    const attempt = generateCertificates()
    shared = attempt
    // A failure (say, openssl missing) is not remembered: the next caller tries again.
    attempt.catch(() => {
      if (shared === attempt) shared = undefined
    })
  }
  return shared
}

/** Writes the CA, server certificate and key into a new private temporary directory (mode 0700). */
export const writeCertificates = (certificates: TestCertificates): CertificateFiles => {
  const dir = mkdtempSync(join(tmpdir(), "cb-redis-tls-"))
  const write = (name: string, text: string) => {
    const file = join(dir, name)
    writeFileSync(file, text, { mode: 0o600 })
    return file
  }
  try {
    return {
      dir,
      caFile: write("ca.crt", certificates.ca),
      certFile: write("server.crt", certificates.serverCert),
      keyFile: write("server.key", certificates.serverKey),
      remove: () => rmSync(dir, { recursive: true, force: true })
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}
