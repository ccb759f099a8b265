"""Tools on a MuData: integrate its modalities with SpaMI, cluster an embedding."""
