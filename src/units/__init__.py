"""What each unit of a network responds to: its dataset examples, its label (Network Dissection), its trust measures."""
