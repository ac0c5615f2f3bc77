"""SMS door: message encoding helpers and the Africa's Talking transport."""
