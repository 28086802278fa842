"""The headless core every face uses: session, inventory and the local store. No Textual."""
