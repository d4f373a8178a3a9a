"""Term lists, one YAML file per locale (a package only so that the lists ship in the wheel)."""
