# tests of the pcapng part: filled in when it lands
