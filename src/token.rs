//! `concord token`: a fresh random token, and the lines that admit it in a configuration.
//! A configuration holds only the token's hash; the token itself goes to whoever presents
//! it (an operator, or the peer service's `[auth] token`).

use std::io::Read;

use concord_core::sign::Signer;
use concord_http::auth::{generate_token, TokenHash};
use concord_http::keys::generate_signer;

use crate::cli::TokenArgs;

pub fn run(args: &TokenArgs) -> Result<(), String> {
    if args.hash {
        let mut token = String::new();
        std::io::stdin()
            .read_to_string(&mut token)
            .map_err(|e| format!("cannot read a token from standard input: {e}"))?;
        let token = token.trim();
        if token.is_empty() {
            return Err(
                "no token on standard input (e.g. echo \"$TOKEN\" | concord token --hash)".into(),
            );
        }
        println!("{}", TokenHash::of(token));
        return Ok(());
    }
    if let Some(service) = &args.signing {
        let signer = generate_signer(format!("{service}/v{}", args.key_version));
        print!("{}", signing_instructions(service, &signer));
        return Ok(());
    }
    print!("{}", instructions(&generate_token()));
    Ok(())
}

/// A fresh key as a credentials file's table, then as a peer trusts it.
fn signing_instructions(service: &str, signer: &Signer) -> String {
    let keyid = signer.keyid();
    let public = signer.public().to_base64();
    let private = signer.private_base64();
    format!(
        "# {service}'s signing key. `private` is a secret: it stays with {service}.\n\
         # In a credentials file (concord demo's DIR/credentials.toml, serve --credentials):\n\
         [signing.\"{service}\"]\n\
         keyid = \"{keyid}\"\n\
         public = \"{public}\"\n\
         private = \"{private}\"\n\
         \n\
         # Or in {service}'s configuration, with the private key in a file of its own:\n\
         #   [signing]\n\
         #   keyid = \"{keyid}\"\n\
         #   private = {{ file = \"PATH\" }}   # the line above's private value\n\
         # And in each peer's configuration (add `retired = \"RFC 3339 time\"` to an old key):\n\
         #   [[signing.trust]]\n\
         #   source = \"{service}\"\n\
         #   keyid = \"{keyid}\"\n\
         #   public = \"{public}\"\n"
    )
}

/// The token on the first line (for scripts: `concord token | head -1`), then how to use it.
fn instructions(token: &str) -> String {
    let hash = TokenHash::of(token);
    format!(
        "{token}\n\
         \n\
         # The token above is a secret: give it to whoever presents it. Services keep only its hash.\n\
         # To admit it as the operator, in the service's TOML configuration:\n\
         [auth]\n\
         operator = [\"{hash}\"]\n\
         # Or as peer service NAME (put/read scopes default from the topology):\n\
         [auth.peers.NAME]\n\
         tokens = [\"{hash}\"]\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signing_key_prints_as_a_credentials_table() {
        let signer = generate_signer("se-group/v2");
        let text = signing_instructions("se-group", &signer);
        let parsed: toml::Value = toml::from_str(&text).unwrap();
        let table = &parsed["signing"]["se-group"];
        assert_eq!(table["keyid"].as_str(), Some("se-group/v2"));
        assert_eq!(
            table["public"].as_str(),
            Some(signer.public().to_base64().as_str())
        );
        let again = Signer::from_base64("se-group/v2", table["private"].as_str().unwrap()).unwrap();
        assert_eq!(again.public(), signer.public());
    }

    #[test]
    fn the_instructions_carry_the_token_and_its_hash() {
        let token = generate_token();
        let text = instructions(&token);
        assert_eq!(text.lines().next(), Some(token.as_str()));
        let hash = TokenHash::of(&token).to_string();
        assert!(text.contains(&format!("operator = [\"{hash}\"]")), "{text}");
        // The lines after the first are valid TOML a configuration can take.
        let toml_part: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
        let parsed: toml::Value = toml::from_str(&toml_part.replace("NAME", "se-group")).unwrap();
        assert_eq!(parsed["auth"]["operator"][0].as_str(), Some(hash.as_str()));
        assert_eq!(
            parsed["auth"]["peers"]["se-group"]["tokens"][0].as_str(),
            Some(hash.as_str())
        );
    }
}
