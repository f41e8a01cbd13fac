//! `mamis` — serve MAMIS, migrate its database, generate data, manage tokens, verify the audit
//! chain. Every option also comes from `MAMIS_*` environment variables or a TOML file.

mod commands;
mod config;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// MAMIS — 医師会会員情報システム (Medical Association Member Information System).
#[derive(Debug, Parser)]
#[command(name = "mamis", version, about, long_about = None)]
struct Cli {
    /// TOML configuration file (keys as in `mamis config`).
    #[arg(long, global = true, env = "MAMIS_CONFIG")]
    config: Option<PathBuf>,
    /// sqlite://PATH or postgres://… [MAMIS_DATABASE_URL; default sqlite://mamis.db].
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Migrate the database and serve HTTP until Ctrl-C / SIGTERM.
    Serve {
        /// Address to listen on [MAMIS_BIND; default 127.0.0.1:8080].
        #[arg(long)]
        bind: Option<String>,
        /// Public URL of this service [MAMIS_BASE_URL; default http://BIND].
        #[arg(long)]
        base_url: Option<String>,
        /// Seed demo data into an empty database and print the logins (loopback only).
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the effective configuration (secrets masked).
    Config,
    /// Generate a synthetic national data set (associations, doctors, memberships).
    Demo {
        /// How many doctors.
        #[arg(long, default_value_t = 340_000)]
        doctors: u64,
        /// The same seed gives identical content.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// CME ledger entries per doctor (FY2020–FY2026); 88 gives about 30 million nationally.
        #[arg(long, default_value_t = 0)]
        ledger_entries: u32,
    },
    /// API tokens for associations' systems.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Staff accounts of the associations.
    Staff {
        #[command(subcommand)]
        cmd: StaffCmd,
    },
    /// Credentials of the legacy CME portal (従来のユーザーID).
    Legacy {
        #[command(subcommand)]
        cmd: LegacyCmd,
    },
    /// The CME ledger (生涯教育の記録).
    Ledger {
        #[command(subcommand)]
        cmd: LedgerCmd,
    },
    /// The certified-doctor programmes (産業医, 健康スポーツ医, かかりつけ医).
    Programmes {
        #[command(subcommand)]
        cmd: ProgrammesCmd,
    },
    /// CME certificates (日医生涯教育認定証).
    Certificates {
        #[command(subcommand)]
        cmd: CertificatesCmd,
    },
    /// Relying parties of the OpenID Provider.
    Client {
        #[command(subcommand)]
        cmd: ClientCmd,
    },
    /// OpenID Provider signing keys.
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Print the API's OpenAPI 3.1 document (the one served at /api/v1/openapi.json).
    Openapi,
    /// The mail outbox.
    Mail {
        #[command(subcommand)]
        cmd: MailCmd,
    },
    /// The move from the legacy CME login to MAMIS_ID.
    Migration {
        #[command(subcommand)]
        cmd: MigrationCmd,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCmd {
    /// Create a token; its secret is printed once.
    Create {
        /// jma_admin, jma_staff, prefecture_staff, county_staff or organiser.
        #[arg(long)]
        role: String,
        /// JMA, P13, P13-0001 (or an organisation id for organiser).
        #[arg(long)]
        scope: String,
        /// What the token is for.
        #[arg(long, default_value = "api token")]
        name: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token at once.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
enum StaffCmd {
    /// Create a staff account and print its one-time enrolment link (TOTP is enrolled first).
    Create {
        /// jma_admin, jma_staff, prefecture_staff, county_staff or organiser.
        #[arg(long)]
        role: String,
        /// JMA, P13, P13-0001 (or an organisation id for organiser).
        #[arg(long)]
        scope: String,
        /// The staff member's e-mail address (their login).
        #[arg(long)]
        email: String,
        /// How the staff member is named on pages.
        #[arg(long, default_value = "")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum LegacyCmd {
    /// Import `member_id,birth_date[,password_hash]` (UTF-8, UTF-16 with BOM or CP932; birth
    /// dates as 1970-05-06, 1970/5/6, 1970年5月6日 or S45.5.6); all or nothing.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Replace the credential of a member who already has one (otherwise such a row
        /// refuses the file); each replaced one is reported.
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Debug, Subcommand)]
enum LedgerCmd {
    /// Import credits from before MAMIS (医籍登録番号, 年度, カリキュラムコード, 単位 or 半単位;
    /// UTF-8 or CP932) as prior-system entries; all or nothing.
    ImportHistory {
        /// The CSV file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ProgrammesCmd {
    /// Import units of the paper 研修手帳 (before April 2025): 医籍登録番号, 制度, カテゴリ, 日付,
    /// 単位, ページ, 押印 (UTF-8 or CP932); all or nothing, re-runs change nothing.
    ImportHistory {
        /// The CSV file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum CertificatesCmd {
    /// Decide the windows ending in a closed fiscal year now (instead of waiting for the decision
    /// date) and issue the certificates due; safe to interrupt and run again.
    Issue {
        /// The last fiscal year of the windows to decide (e.g. 2025 for FY2023–2025).
        #[arg(long)]
        fiscal_year: i32,
    },
    /// Import certificates issued before MAMIS (証書番号, 医籍登録番号, 開始年度, 終了年度,
    /// 発行日; UTF-8 or CP932); their fiscal years are consumed. All or nothing.
    ImportHistory {
        /// The CSV file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ClientCmd {
    /// Register a client; a confidential client's secret is printed once.
    Create {
        /// Shown to users on the consent page.
        #[arg(long)]
        name: String,
        /// Exact redirect URI (repeat for several).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Where RP-initiated logout may return (repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret; PKCE only), e.g. a native app.
        #[arg(long)]
        public: bool,
        /// Run by the associations: no consent page.
        #[arg(long)]
        first_party: bool,
        /// Space- or comma-separated scopes it may receive (default: all but iseki).
        #[arg(long, default_value = "")]
        scopes: String,
        /// May receive the 医籍登録番号.
        #[arg(long)]
        allow_iseki: bool,
        /// ID-token signature: RS256 (default) or ES256.
        #[arg(long, default_value = "RS256")]
        alg: String,
    },
    /// List the clients.
    List,
}

#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// Start signing with new keys; the old ones stay published until their tokens expired.
    Rotate,
    /// List the keys (never their private halves).
    List,
}

#[derive(Debug, Subcommand)]
enum AuditCmd {
    /// Walk the chain and name the first row that does not verify.
    Verify {
        /// A head from an earlier `audit checkpoint` log line (SEQ:MAC): the chain must still
        /// reach it, which proves it was not shortened since.
        #[arg(long, value_name = "SEQ:MAC")]
        expect_head: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum MailCmd {
    /// List the newest mail in the outbox, one line each, starting with its id.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Print one mail whole: its headers, a blank line, then its body (with any link in it).
    Show {
        /// The mail's id, as `mamis mail list` prints it.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum MigrationCmd {
    /// Mail the JMA members under a node not yet moved to MAMIS_ID (each once per cut-over).
    Remind {
        /// JMA, P13 or P13-0001.
        #[arg(long, default_value = "JMA")]
        node: String,
    },
}

/// jemalloc returns freed memory to the system over time; glibc's per-thread arenas kept the
/// memory of 100,000-row list applies (RSS 268 MiB and creeping; jemalloc 178 MiB, flat).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mamis: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mamis: {e}");
            ExitCode::from(1)
        }
    }
}
