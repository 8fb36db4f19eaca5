//! `concord token`: a fresh random token, and the lines that admit it in a configuration.
//! A configuration holds only the token's hash; the token itself goes to whoever presents
//! it (an operator, or the peer service's `[auth] token`).

use std::io::Read;

use concord_http::auth::{generate_token, TokenHash};

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
    print!("{}", instructions(&generate_token()));
    Ok(())
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
