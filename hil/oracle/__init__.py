"""What a correct bridge publishes and how the rig judges what it did."""
