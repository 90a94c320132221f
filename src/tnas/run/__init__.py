"""tnas.run"""
