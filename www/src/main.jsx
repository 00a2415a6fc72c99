import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { SynclineProvider } from "syncline/react";
import { App } from "./App.jsx";
import "./styles.css";

const scheme = location.protocol === "https:" ? "wss" : "ws";
const options = { url: `${scheme}://${location.host}/ws`, storageKey: "match-center" };

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <SynclineProvider options={options}>
      <App />
    </SynclineProvider>
  </StrictMode>,
);
