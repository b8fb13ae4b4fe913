"""Images and datasets: loading any picture as 8-bit RGB and turning it into network input."""
