//! The README documents every setting.

#[test]
fn the_readme_lists_every_variable_with_its_default() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md at the workspace root");
    for variable in config::VARIABLES {
        let row = readme
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", variable.name)))
            .unwrap_or_else(|| panic!("README has no table row for {}", variable.name));
        let default = match (variable.default, variable.required) {
            (Some(default), _) => format!("`{default}`"),
            (None, true) => "required".to_owned(),
            (None, false) => "unset".to_owned(),
        };
        assert!(
            row.contains(&format!("| {default} |")),
            "README row for {} should give the default {default}: {row}",
            variable.name
        );
    }
}
