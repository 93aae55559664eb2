//! Hand-rolled argument handling for subcommands: flags, `--name VALUE` options, and a check
//! that nothing unknown was left over.

/// The arguments after the subcommand name, consumed option by option.
#[derive(Debug)]
pub struct Args {
    rest: Vec<String>,
}

impl Args {
    /// Wraps the arguments that follow the subcommand.
    pub fn new(rest: Vec<String>) -> Self {
        Args { rest }
    }

    /// Removes `flag` (e.g. `--list`) if present and says whether it was.
    pub fn flag(&mut self, flag: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|a| a != flag);
        self.rest.len() != before
    }

    /// Removes `--name VALUE` or `--name=VALUE` and returns the value.
    pub fn value(&mut self, name: &str) -> Result<Option<String>, String> {
        let prefix = format!("{name}=");
        if let Some(i) = self.rest.iter().position(|a| a.starts_with(&prefix)) {
            let arg = self.rest.remove(i);
            return Ok(Some(arg[prefix.len()..].to_string()));
        }
        let Some(i) = self.rest.iter().position(|a| a == name) else {
            return Ok(None);
        };
        if i + 1 >= self.rest.len() {
            return Err(format!("{name} needs a value"));
        }
        let value = self.rest.remove(i + 1);
        self.rest.remove(i);
        Ok(Some(value))
    }

    /// Removes a comma-separated list option (`--only a,b`), empty when absent.
    pub fn list(&mut self, name: &str) -> Result<Vec<String>, String> {
        Ok(self
            .value(name)?
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Removes and returns the positional arguments (those not starting with `-`).
    pub fn positionals(&mut self) -> Vec<String> {
        let (positional, rest) = std::mem::take(&mut self.rest)
            .into_iter()
            .partition(|a| !a.starts_with('-'));
        self.rest = rest;
        positional
    }

    /// Fails if any argument was not consumed.
    pub fn finish(self) -> Result<(), String> {
        match self.rest.first() {
            None => Ok(()),
            Some(arg) => Err(format!("unexpected argument `{arg}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::new(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn flags_and_values_are_consumed() {
        let mut a = args(&["--fail-fast", "--only", "fmt,clippy", "--skip=tests"]);
        assert!(a.flag("--fail-fast"));
        assert!(!a.flag("--fail-fast"));
        assert_eq!(a.list("--only").unwrap(), ["fmt", "clippy"]);
        assert_eq!(a.value("--skip").unwrap().as_deref(), Some("tests"));
        assert!(a.finish().is_ok());
    }

    #[test]
    fn missing_value_is_an_error() {
        let mut a = args(&["--only"]);
        assert_eq!(a.value("--only").unwrap_err(), "--only needs a value");
    }

    #[test]
    fn leftovers_are_reported() {
        let mut a = args(&["converge", "--bogus"]);
        assert_eq!(a.positionals(), ["converge"]);
        assert_eq!(a.finish().unwrap_err(), "unexpected argument `--bogus`");
    }
}
