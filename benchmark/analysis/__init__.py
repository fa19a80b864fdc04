"""Reading results: tidy rows, intervals over seeds, verdicts, plots, the report. It reads result files and
never imports torch (an import contract in pyproject.toml), so a report needs none of the training stack."""
