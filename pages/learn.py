"""Learn: what each kind of inference-time scaling does, costs and when it helps."""

from __future__ import annotations

import streamlit as st

from lab.ui.entry import ensure_entrypoint
from lab.ui.presets import CATEGORIES, request_preset

ensure_entrypoint()
st.title("Learn")
st.caption("Inference-time scaling: spend more compute when answering, instead of training a "
           "bigger model. Each section opens the Playground set up to show it.")

for index, category in enumerate(CATEGORIES):
    with st.container(border=True):
        st.subheader(category.title)
        st.caption("Strategies: " + ", ".join(f"`{s}`" for s in category.strategies))
        st.markdown(f"**What it does.** {category.what}")
        st.markdown(f"**What it costs.** {category.cost}")
        st.markdown(f"**When it helps.** {category.helps}")
        if st.button(f"Try {category.preset.strategy} in the Playground", key=f"learn.{index}",
                     icon=":material/arrow_forward:"):
            request_preset(category.preset)
            st.switch_page("pages/playground.py")
