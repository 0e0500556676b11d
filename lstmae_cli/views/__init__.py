"""What a person reads: detection metrics, figures, the HTML report, the progress bar."""
